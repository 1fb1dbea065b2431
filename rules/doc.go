// Package rules decides which rules (webhooks, markers, REST-hook
// subscriptions) an event concerns (SPEC §3.1, §5).
//
// # Data flow
//
// The engine's router takes one event, fills ev.Changes with Changes (the
// DAM's own changes, else derived from ev.Previous or the engine's last
// snapshot of the asset), builds one Env with NewEnv, asks an Index for the
// Candidates of the event's type and calls Rule.Check on each with its own
// Evaluator: the Stage where the match ended (matched, or the first scope or
// the condition that turned it down) is what the engine's routing traces
// record. Conditions and templates are compiled once, when an owner is
// saved or loaded (Compile, CompileTemplate), and reused for every event; a
// compile error is a *CompileError with a 1-based line and column for the
// API's 422, and so is a condition seen at compile time not to yield a
// boolean (asset.name, asset.size + 1, "yes"). ValidateTriggers and
// ValidateFolder check a webhook's trigger_events and folder.
//
// For the admin's tools on stored events: Condition.AssetPaths lists the
// asset paths a condition reads and CollectPaths those an asset carries
// (validation warnings), and Before rebuilds the previous snapshot from an
// asset and its changes (backtests).
//
// Cost: an Index lookup is one map read, so events nobody subscribes to cost
// nothing; a typical condition evaluates in well under a microsecond with no
// allocation (helpers are called by expr without reflection). Reading a
// field of a map (asset.image.width) goes through expr's reflective fetch and
// allocates a little.
//
// # The environment
//
//	event     the envelope: id, type, occurred_at (RFC 3339 string), project_id,
//	          actor {username, interface}, destination, target, marker, object,
//	          webhook / delivery on the engine's WEBHOOK_* events, and
//	          schedule {id, name} on ASSET_SCHEDULED events
//	asset     the asset as the DAM sent it; numbers are int when integral, else
//	          float64, whatever the JSON looked like (2400, 2400.0)
//	old       the previous snapshot (event.previous or the engine's), or nil
//	changes   [{field, old, new}], as sent or derived
//
// Helpers (all nil-safe: a missing field is never an error inside them):
//
//	changed(path)          something at path or below changed. path is dotted
//	                       ("meta.custom.status"); "*" is any segment, a trailing
//	                       "*" anything below: changed("*"), changed("meta.custom.*")
//	changedTo(path, v)     path changed and its new value equals v (numbers by
//	                       value); with a wildcard path, any matching field
//	changedFrom(path, v)   path changed and its old value was v
//	inFolder(glob)         the asset's full path matches glob: "**" crosses
//	                       folders, "*" does not; a glob without wildcards is a
//	                       folder and everything in it. The full path is
//	                       asset.path, with asset.name joined unless the path
//	                       already ends with it
//	movedFrom(glob)        the asset moved or was renamed, from a place matching
//	movedTo(glob)          glob / to one. Before: old's path, else a change of
//	                       path or name, else asset.path when event.destination
//	                       is set (Files.com sends the pre-move path). After:
//	                       event.destination, else the asset's path
//	hasTag(t), hasLabel(l) asset.tags / asset.labels hold t: strings, or
//	                       objects with a "name" or "label"
//	tagAdded(t), tagRemoved(t), labelAdded(l), labelRemoved(l)
//	                       compared with the change of tags/labels, else old;
//	                       on ASSET_ADDED everything is added
//	hasMarker(name)        the marker being selected/cleared, or one of
//	                       asset.markers
//	isImage(), isVideo()   by mime_type (image/…, video/…) when the asset has one;
//	                       only without a mime_type by the presence of an image
//	                       (video) object: a PDF with preview dimensions is no image
//	ext()                  lower-case extension of the name: "jpg"
//	get(path), oldGet(path) a dotted lookup in asset / old that yields nil for
//	                       anything missing (list indexes allowed: "tags.0");
//	                       the safe way to read optional fields
//	now()                  the time the event is routed (one value per event);
//	                       in a schedule, the time of the tick
//	since(path)            how long ago the value at path last changed, or the
//	                       asset was first seen when it never changed
//	                       (a time.Duration). The path must be a quoted string:
//	                       the engine records change times only for the paths
//	                       that saved schedule conditions pass to since()
//	                       (SincePaths, Touched), and injects the lookup with
//	                       Env.WithSince; without one (webhook routing) it is 0
//	age(t)                 now() minus a time or an RFC 3339 string; nil or a
//	                       string that is no time is a run-time error, so read
//	                       optional fields with ??: age(asset.created_at ?? now())
//	date(s), duration(s)   expr's: parse an RFC 3339 (or 2006-01-02) string, a
//	                       Go duration ("168h"); times and durations compare and
//	                       add: date(x) <= now() + duration("168h")
//
// expr's builtins are available (len, any, filter, map, matches, lower,
// date, duration…), except now and get, which the helpers replace. Reading a
// field of a missing key is a run-time error in expr (asset.video.duration on
// an image): use get("video.duration"), or asset.video?.duration ?? 0.
//
// docs/rules.md is the user's reference of the same; its cookbook section
// is generated from Cookbook (go generate ./rules/).
//
// A condition that fails at run time does not match; Match returns the error
// for the engine to count and log. Budgets: MaxConditionBytes of source,
// MaxNodes syntax nodes, MemoryBudget of expr's VM units, and MaxEvalBytes of
// strings and lists produced by "+" and the growing builtins (a `let` chain
// that doubles a string is stopped, not left to exhaust memory).
//
// # Cookbook
//
// Every rule below is in Cookbook with an event it matches and one it
// misses; the tests run them all.
//
// Filerobot's "change meta" trigger, a specific field to a value, to any
// value, any field, any custom field to a value; and leaving a state:
//
//	changedTo("meta.custom.status", "approved")
//	changed("meta.custom.status")
//	changed("meta")
//	changedTo("meta.custom.*", "approved")
//	changedFrom("meta.custom.status", "approved")
//
// Folder scopes (also available as the webhook's folder field):
//
//	inFolder("/marketing/**")
//	inFolder("/press/*")
//
// Only images wider than 2000 px in /marketing:
//
//	isImage() && inFolder("/marketing/**") && asset.image?.width > 2000
//
// Tags and labels:
//
//	tagAdded("approved")
//	tagRemoved("embargo")
//	labelAdded("Print")
//	get("meta.custom.status") == "approved" && hasTag("hero")
//
// A marker selected by a user (Fotoware's markers and actions):
//
//	event.type == "ASSET_MARKER_SELECTED" && event.marker == "publish-to-cms"
//
// Renamed or moved out of /drafts:
//
//	movedFrom("/drafts/**") && !movedTo("/drafts/**")
//
// Files.com: a deletion done by a robot (a retention rule), not a person:
//
//	event.type == "ASSET_REMOVED" && event.actor.interface == "robot"
//
// Videos longer than a minute; documents uploaded by FTP:
//
//	isVideo() && (get("video.duration") ?? 0) > 60
//	ext() in ["pdf", "docx"] && event.actor.interface == "ftp"
//
// A title edit by anyone but the importer; an optional field read safely;
// any change of a whole list; an engine event about one webhook:
//
//	changed("info.title") && event.actor.username != "importer"
//	(asset.meta?.custom?.priority ?? 0) >= 3
//	changed("renditions")
//	event.type == "WEBHOOK_DELIVERY_FAILED" && (event.webhook?.id ?? 0) == 5
//
// Schedule conditions (SPEC §3.7) run over every stored asset at each tick,
// with now() the tick's time: assets that expire this week, assets still in
// review for 7 days, untagged uploads older than a day:
//
//	let exp = asset.meta?.custom?.expires_at; exp != nil && date(exp) > now() && date(exp) <= now() + duration("168h")
//	asset.meta.custom.status == "review" && since("meta.custom.status") > duration("168h")
//	len(asset.tags ?? []) == 0 && age(asset.created_at ?? now()) > duration("24h")
//
// A template (the webhook body's "template") is an expression whose result
// is an object:
//
//	{"id": asset.uuid, "title": get("info.title") ?? asset.name, "by": event.actor.username}
package rules

//go:generate env UPDATE=1 go test -count=1 -run ^TestDocs$ .
