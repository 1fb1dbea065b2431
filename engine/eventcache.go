package engine

import (
	"strings"
	"sync"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/event"
)

// cachedEvent is a stored event as its deliveries share it: the default
// json body the router encoded once, and the event itself, decoded only when
// a delivery needs more than that body.
type cachedEvent struct {
	raw     string // the event's JSON
	encoded []byte // its default json body; nil in entries written without one
	once    sync.Once
	ev      *event.Event
	cache   *actions.PayloadCache
}

// newCachedEvent reads a stored event: the default json body, a newline,
// the event's JSON (compact JSON holds no raw newline).
func newCachedEvent(s string) *cachedEvent {
	c := &cachedEvent{raw: s, cache: actions.NewPayloadCache()}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		c.encoded, c.raw = []byte(s[:i]), s[i+1:]
	}
	return c
}

// event decodes the event once; nil when it does not decode.
func (c *cachedEvent) event() *event.Event {
	c.once.Do(func() {
		var ev event.Event
		if event.UnmarshalJSONNumber([]byte(c.raw), &ev) == nil {
			c.ev = &ev
		}
	})
	return c.ev
}

// forJob returns what a job's action needs: for a webhook that sends the
// default json body (and no template result), that body and the event's id
// and type only; else the decoded event.
func (c *cachedEvent) forJob(j *job) (*event.Event, []byte, *actions.PayloadCache) {
	if j.hook.plain && c.encoded != nil && len(j.msg.X) == 0 {
		return &event.Event{ID: j.msg.E, Type: j.msg.T}, c.encoded, nil
	}
	return c.event(), nil, c.cache
}

// eventCache keeps recent events in two generations: lookups see both, and
// when the young one fills up the old one is dropped.
type eventCache struct {
	mu       sync.Mutex
	size     int
	cur, old map[string]*cachedEvent
}

func newEventCache(size int) eventCache {
	return eventCache{size: size, cur: map[string]*cachedEvent{}, old: map[string]*cachedEvent{}}
}

func (c *eventCache) get(id string) *cachedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[id]; ok {
		return v
	}
	if v, ok := c.old[id]; ok {
		c.cur[id] = v
		return v
	}
	return nil
}

func (c *eventCache) put(id string, v *cachedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= c.size {
		c.old, c.cur = c.cur, make(map[string]*cachedEvent, c.size)
	}
	c.cur[id] = v
}
