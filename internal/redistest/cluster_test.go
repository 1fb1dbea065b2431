package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSlot(t *testing.T) {
	t.Parallel()
	// Values from CLUSTER KEYSLOT.
	for key, want := range map[string]int{"foo": 12182, "bar": 5061, "{foo}bar": 12182, "a{foo}": 12182} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestParseNodes(t *testing.T) {
	t.Parallel()
	text := "82eb 127.0.0.1:44441@54441 myself,master - 0 1796172328000 2 connected 5461-10922\n" +
		"bb78 127.0.0.1:33821@43821 slave 4eab 0 1796172329052 1 connected\n" +
		"4eab 127.0.0.1:38449@48449 master,fail - 1796172329152 1796172328145 1 disconnected 0-5460 16000 [93->-xyz]\n"
	got, err := parseNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{
		{ID: "4eab", Addr: "127.0.0.1:38449", Master: true, Failed: true, Slots: [][2]int{{0, 5460}, {16000, 16000}}},
		{ID: "82eb", Addr: "127.0.0.1:44441", Master: true, Slots: [][2]int{{5461, 10922}}},
		{ID: "bb78", Addr: "127.0.0.1:33821", MasterID: "4eab"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parseNodes (-want +got):\n%s", d)
	}
	if !got[0].Serves(16000) || got[0].Serves(5461) || got[0].SlotCount() != 5462 {
		t.Errorf("Serves/SlotCount of %+v", got[0])
	}
}

func TestPattern(t *testing.T) {
	t.Parallel()
	for prefix, want := range map[string]string{"{t1f}": "{t1f[}:]*", "{a*b}x": `{a\*b[}:]*`, "plain": "plain*"} {
		if got := Pattern(prefix); got != want {
			t.Errorf("Pattern(%q) = %q, want %q", prefix, got, want)
		}
	}
}

// TestCluster: the helpers on a real cluster: masters and slots, per-node
// keys and commands, Clean on every master, and a killed master's replica
// promoted.
func TestCluster(t *testing.T) {
	c := StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ms, err := c.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range ms {
		total += m.SlotCount()
	}
	if len(ms) != 3 || total != 16384 {
		t.Fatalf("masters %+v: want 3 serving the 16384 slots", ms)
	}
	rdb := c.Client(t)
	for _, key := range []string{"foo", "{t1}x", "{t1:p3.17}y", "{}foo", "{", "a{b}{c}", "x{}{y}"} {
		want, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil || int(want) != Slot(key) {
			t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT %d %v", key, Slot(key), want, err)
		}
	}

	// Keys under one prefix and tags derived from it, spread over the
	// masters (one key of another prefix comes before Clean).
	prefix := Prefix()
	tag := prefix[1 : len(prefix)-1]
	if err := c.ResetStats(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for i := range 60 {
		key := fmt.Sprintf("{%s:p%d}k", tag, i)
		if i == 0 {
			key = prefix + "k"
		}
		if err := rdb.Set(ctx, key, "v", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		m, err := c.MasterOf(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		want[m]++
	}
	got, err := c.KeysPerMaster(ctx, Pattern(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" || len(got) != 3 {
		t.Errorf("KeysPerMaster (-want +got):\n%s", d)
	}
	stats, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sets int64
	for i, s := range stats {
		if s.Master != (i < 3) || (s.Master && s.Calls["set"] != int64(want[s.Addr])) {
			t.Errorf("stats %d: %+v, want the masters first, each with its SETs (%d)", i, s, want[s.Addr])
		}
		if s.Master {
			sets += s.Calls["set"]
			if s.Keys < int64(want[s.Addr]) || s.CPU <= 0 {
				t.Errorf("stats of %s: %+v", s.Addr, s)
			}
		}
	}
	if sets != 60 {
		t.Errorf("SETs counted on the masters: %d, want 60", sets)
	}
	other := Prefix() + "k"
	if err := rdb.Set(ctx, other, "v", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Clean(ctx, Pattern(prefix)); err != nil || n != 60 {
		t.Errorf("Clean = %d, %v; want 60 deleted", n, err)
	}
	if got, _ := c.KeysPerMaster(ctx, Pattern(prefix)); got[ms[0].Addr]+got[ms[1].Addr]+got[ms[2].Addr] != 0 {
		t.Errorf("keys left after Clean: %v", got)
	}
	if n, _ := rdb.Exists(ctx, other).Result(); n != 1 {
		t.Errorf("Clean deleted a key of another prefix")
	}

	victim := ms[1].Addr
	f, err := c.Kill(ctx, victim, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s, %s promoted after %s", f.Killed, f.Promoted, f.Took().Round(time.Millisecond))
	after, err := c.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 3 || after[1].Addr != f.Promoted || f.Promoted == victim || f.Took() <= 0 {
		t.Errorf("masters after the failover: %+v (%+v)", after, f)
	}
	if _, err := c.Kill(ctx, victim, time.Second); err == nil {
		t.Error("killing a dead node again: no error")
	}
}
