package rules

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// A condition must yield a boolean. expr's AsBool refuses a result whose Go
// type is known and not bool ("yes", len(asset.tags)), but the asset and the
// event are maps, so asset.name or asset.size + 1 are typed "any" and would
// only fail at run time, on every event, as a webhook that never fires.
// checkBoolean walks the checked syntax tree from its root and refuses what
// can be seen not to be a boolean: literals other than true and false,
// arithmetic, string building, and a field whose meaning SPEC §4 fixes as a
// string, a number, a list or an object (asset.name, asset.size,
// event.type…), also as an operand of &&, ||, ! and ??, or a branch of
// ?:. The error points at the node that yields the value.

// fieldKinds are the documented fields of the asset (and old) and of the
// event, by dotted path, with what they hold.
var fieldKinds = map[string]map[string]string{
	"asset": assetKinds,
	"old":   assetKinds,
	"event": {
		"id": "a string", "type": "a string", "occurred_at": "a string", "project_id": "a string",
		"destination": "a string", "target": "a string", "marker": "a string", "actor": "an object",
		"actor.username": "a string", "actor.interface": "a string", "object": "an object",
		"webhook": "an object", "delivery": "an object", "assets": "a list",
	},
}

var assetKinds = map[string]string{
	"uuid": "a string", "name": "a string", "path": "a string", "mime_type": "a string", "cdn_url": "a string",
	"created_at": "a string", "updated_at": "a string", "size": "a number",
	"info": "an object", "info.title": "a string", "info.description": "a string",
	"tags": "a list", "labels": "a list", "markers": "a list",
	"image": "an object", "image.width": "a number", "image.height": "a number",
	"video": "an object", "video.width": "a number", "video.height": "a number", "video.duration": "a number",
	"video.bitrate": "a number", "video.playlist_url": "a string",
	"meta": "an object", "meta.system": "an object", "meta.custom": "an object", "meta.embedded": "an object",
}

// stringBuilders are the (metered) builtins and helpers whose result is
// never a boolean.
var stringBuilders = map[string]string{
	addName: "a sum", "join": "a string", "replace": "a string", "repeat": "a string", "toJSON": "a string",
	"string": "a string", "concat": "a list", "flatten": "a list", "toBase64": "a string", "split": "a list",
	"splitAfter": "a list", "upper": "a string", "lower": "a string", "toPairs": "a list", "keys": "a list",
	"values": "a list",
}

// checkBoolean refuses a condition whose result is seen not to be a boolean.
func checkBoolean(src string, root ast.Node) error {
	n, what := notBoolean(root)
	if n == nil {
		return nil
	}
	msg := fmt.Sprintf("expected bool, but the condition yields %s", what)
	fe := (&file.Error{Location: start(n), Message: msg}).Bind(file.NewSource(src))
	return &CompileError{Msg: msg, Line: max(fe.Line, 1), Column: fe.Column + 1}
}

// notBoolean returns the node that makes n's value a non-boolean, and what
// that value is; nil when n may be a boolean.
func notBoolean(n ast.Node) (ast.Node, string) {
	if t := n.Type(); t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		return n, kindOf(t)
	}
	switch x := n.(type) {
	case *ast.StringNode:
		return n, "a string"
	case *ast.IntegerNode, *ast.FloatNode:
		return n, "a number"
	case *ast.NilNode:
		return n, "nil"
	case *ast.ArrayNode:
		return n, "a list"
	case *ast.MapNode:
		return n, "an object"
	case *ast.ConstantNode:
		if _, ok := x.Value.(bool); !ok {
			return n, "a constant that is not a boolean"
		}
	case *ast.UnaryNode:
		switch x.Operator {
		case "-", "+":
			return n, "a number"
		case "!", "not":
			return notBoolean(x.Node)
		}
	case *ast.BinaryNode:
		switch x.Operator {
		case "+", "-", "*", "/", "%", "**", "^":
			return n, "a number"
		case "..":
			return n, "a list"
		case "??", "&&", "||", "and", "or":
			if m, what := notBoolean(x.Left); m != nil {
				return m, what
			}
			return notBoolean(x.Right)
		}
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok {
			if what, ok := stringBuilders[id.Value]; ok {
				return n, what
			}
		}
	case *ast.ConditionalNode:
		if m, what := notBoolean(x.Exp1); m != nil {
			return m, what
		}
		return notBoolean(x.Exp2)
	case *ast.ChainNode:
		return notBoolean(x.Node)
	case *ast.VariableDeclaratorNode:
		return notBoolean(x.Expr)
	case *ast.SequenceNode:
		if len(x.Nodes) > 0 {
			return notBoolean(x.Nodes[len(x.Nodes)-1])
		}
	case *ast.MemberNode:
		if root, path, ok := memberPath(x); ok {
			if what, ok := fieldKinds[root][path]; ok {
				return n, fmt.Sprintf("%s.%s, which is %s", root, path, what)
			}
		}
	}
	return nil, ""
}

func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// memberPath reads a chain of constant field names from a root identifier
// (asset.meta.custom.status, asset["info"].title, asset?.image?.width) as
// the root and the dotted path; ok is false for anything else (a computed
// key, a list index, a call).
func memberPath(n ast.Node) (root, path string, ok bool) {
	var segs []string
	for {
		switch x := n.(type) {
		case *ast.ChainNode:
			n = x.Node
			continue
		case *ast.MemberNode:
			s, isStr := x.Property.(*ast.StringNode)
			if !isStr {
				return "", "", false
			}
			segs = append(segs, s.Value)
			n = x.Node
			continue
		case *ast.IdentifierNode:
			if len(segs) == 0 {
				return "", "", false
			}
			path = segs[len(segs)-1]
			for i := len(segs) - 2; i >= 0; i-- {
				path += "." + segs[i]
			}
			return x.Value, path, true
		}
		return "", "", false
	}
}

// start is where the source of n begins: the leftmost location in its
// subtree (a member chain's own location is its last field, a sum's its
// operator), so that the column points at the start of the value. The
// nodes the meter's patch added ($add, $env) have no place in the source.
func start(n ast.Node) file.Location {
	loc := file.Location{From: -1}
	ast.Walk(&n, locator{&loc})
	if loc.From < 0 {
		return n.Location()
	}
	return loc
}

type locator struct{ loc *file.Location }

// Visit implements ast.Visitor.
func (l locator) Visit(node *ast.Node) {
	switch x := (*node).(type) {
	case *ast.IdentifierNode:
		if strings.HasPrefix(x.Value, "$") {
			return
		}
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok && id.Value == addName {
			return
		}
	}
	if from := (*node).Location().From; l.loc.From < 0 || from < l.loc.From {
		l.loc.From = from
	}
}
