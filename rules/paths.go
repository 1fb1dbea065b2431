package rules

import (
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/assethooks/assethooks/event"
)

// pathHelpers are the helpers whose first argument is a dotted path into
// the asset.
var pathHelpers = map[string]bool{"changed": true, "changedTo": true, "changedFrom": true, "get": true,
	"oldGet": true, "since": true}

// AssetPaths lists, in the order they appear and once each, the asset
// paths the condition reads: constant member chains from asset or old
// (asset.meta.custom.status, asset?.image?.width) and the constant path
// arguments of changed, changedTo, changedFrom, get, oldGet and since. Paths
// are dotted, without the "asset." prefix; a list index ends a path
// (asset.tags[0] reads "tags"), and paths with a "*" wildcard are left out.
func (c *Condition) AssetPaths() []string {
	root := c.prog.Node()
	v := &pathCollector{seen: map[string]bool{}}
	ast.Walk(&root, v)
	return v.out
}

type pathCollector struct {
	seen map[string]bool
	out  []string
}

func (v *pathCollector) add(p string) {
	if p == "" || strings.Contains(p, "*") || v.seen[p] {
		return
	}
	v.seen[p] = true
	v.out = append(v.out, p)
}

// Visit implements ast.Visitor. Walk visits children first, so a chain's
// inner members come before the whole chain; only a chain that no other
// member extends is kept, by dropping the prefixes it extends.
func (v *pathCollector) Visit(node *ast.Node) {
	switch x := (*node).(type) {
	case *ast.MemberNode:
		root, path, ok := leadingPath(x)
		if !ok || (root != "asset" && root != "old") {
			return
		}
		v.extend(path)
	case *ast.CallNode:
		id, ok := x.Callee.(*ast.IdentifierNode)
		if !ok || !pathHelpers[id.Value] || len(x.Arguments) == 0 {
			return
		}
		if s, ok := x.Arguments[0].(*ast.StringNode); ok {
			v.add(trimIndexes(s.Value))
		}
	}
}

// extend adds path, replacing the prefix of it that was added just before
// (the inner member of the same chain).
func (v *pathCollector) extend(path string) {
	if n := len(v.out); n > 0 && strings.HasPrefix(path, v.out[n-1]+".") {
		delete(v.seen, v.out[n-1])
		v.out = v.out[:n-1]
	}
	v.add(path)
}

// leadingPath is memberPath up to the first segment that is not a constant
// string (a list index, a computed key): asset.tags[0].name reads "tags".
func leadingPath(n *ast.MemberNode) (root, path string, ok bool) {
	var inner ast.Node = n
	for {
		switch x := inner.(type) {
		case *ast.ChainNode:
			inner = x.Node
			continue
		case *ast.MemberNode:
			if _, isStr := x.Property.(*ast.StringNode); !isStr {
				inner = x.Node
				continue
			}
			return memberPath(inner)
		}
		return "", "", false
	}
}

// trimIndexes cuts a dotted path at its first numeric segment ("tags.0" is
// "tags").
func trimIndexes(p string) string {
	segs := strings.Split(p, ".")
	for i, s := range segs {
		if _, err := strconv.Atoi(s); err == nil {
			return strings.Join(segs[:i], ".")
		}
	}
	return p
}

// CollectPaths adds to into every dotted path the asset carries, inner
// objects' fields included ("meta", "meta.custom", "meta.custom.status");
// lists are one path each, whatever they hold.
func CollectPaths(asset map[string]any, into map[string]bool) {
	collect("", asset, into)
}

func collect(prefix string, m map[string]any, into map[string]bool) {
	for k, v := range m {
		p := prefix + k
		into[p] = true
		if inner, ok := v.(map[string]any); ok {
			collect(p+".", inner, into)
		}
	}
}

// Before is the asset as it was before changes: asset with each change's
// field set back to its old value (removed when the old value is nil). It
// is the previous snapshot the changes were derived from, so that a rule
// tried later on a stored event sees the same old as the router did. asset
// is not modified.
func Before(asset map[string]any, changes []event.Change) map[string]any {
	if asset == nil {
		return nil
	}
	out := cloneMap(asset)
	for _, c := range changes {
		setPath(out, strings.Split(c.Field, "."), c.Old)
	}
	return out
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if inner, ok := v.(map[string]any); ok {
			v = cloneMap(inner)
		}
		out[k] = v
	}
	return out
}

func setPath(m map[string]any, segs []string, v any) {
	for len(segs) > 1 {
		inner, ok := m[segs[0]].(map[string]any)
		if !ok {
			if v == nil {
				return
			}
			inner = map[string]any{}
			m[segs[0]] = inner
		}
		m, segs = inner, segs[1:]
	}
	if v == nil {
		delete(m, segs[0])
		return
	}
	m[segs[0]] = v
}
