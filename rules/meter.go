package rules

import (
	"errors"
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/vm/runtime"
)

// expr's VM budget counts list elements and loop iterations, but not the
// bytes that string concatenation and builtins such as join or toJSON
// produce, and `let` lets an expression double a value again and again
// (let a = s + s; let b = a + a; …). metered closes that hole: a patch turns
// every string "+" and every call of a growing builtin into a call of a
// wrapper that receives the evaluation's scope ($env) as a hidden first
// argument and charges the size of what it produced against MaxEvalBytes.

// grows lists the builtins whose result can be larger than their arguments.
var grows = []string{"join", "replace", "repeat", "toJSON", "string", "concat", "flatten",
	"toBase64", "split", "splitAfter", "upper", "lower", "fromJSON", "toPairs", "keys", "values"}

var errBudget = errors.New("memory budget exceeded: the expression produced more than 1 MiB of strings and lists")

var anyType = reflect.TypeOf((*any)(nil)).Elem()

// addName is the function string "+" becomes; users cannot write "$" names.
const addName = "$add"

// metered is the expr option that installs the wrappers and the patch.
func metered(c *conf.Config) {
	for _, name := range grows {
		orig, ok := c.Builtins[name]
		if !ok {
			continue
		}
		c.Disabled[name] = true
		c.Functions[name] = wrap(orig)
	}
	c.Functions[addName] = &builtin.Function{Name: addName, Func: add, Validate: validateAdd}
	c.Visitors = append(c.Visitors, patch{})
}

// charge adds the size of v to the scope's count.
func charge(scope any, v any) error {
	s, ok := scope.(*vars)
	if !ok {
		return errors.New("internal: missing evaluation scope")
	}
	switch x := v.(type) {
	case string:
		s.used += len(x)
	case []any:
		s.used += 16 * len(x)
	case []string:
		s.used += 16 * len(x)
	case map[string]any:
		s.used += 32 * len(x)
	}
	if s.used > MaxEvalBytes {
		return errBudget
	}
	return nil
}

func add(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, errors.New("internal: bad call of +")
	}
	out := runtime.Add(args[1], args[2])
	if err := charge(args[0], out); err != nil {
		return nil, err
	}
	return out, nil
}

func validateAdd(args []reflect.Type) (reflect.Type, error) {
	if len(args) != 3 {
		return nil, errors.New("invalid operation +")
	}
	l, r := args[1], args[2]
	if known(l) && known(r) && (l.Kind() == reflect.String) != (r.Kind() == reflect.String) {
		return nil, errors.New("invalid operation: + (mismatched types " + l.String() + " and " + r.String() + ")")
	}
	// A sum with a string operand is a string, or a run-time error.
	if known(l) && l.Kind() == reflect.String {
		return l, nil
	}
	if known(r) && r.Kind() == reflect.String {
		return r, nil
	}
	return anyType, nil
}

func known(t reflect.Type) bool { return t != nil && t.Kind() != reflect.Interface }

// wrap returns orig behind a metering first argument, keeping its type
// checks (each signature gains a leading any).
func wrap(orig *builtin.Function) *builtin.Function {
	call := orig.Func
	switch {
	case call != nil:
	case orig.Safe != nil:
		safe := orig.Safe
		call = func(args ...any) (any, error) {
			out, _, err := safe(args...)
			return out, err
		}
	case orig.Fast != nil:
		fast := orig.Fast
		call = func(args ...any) (any, error) {
			if len(args) != 1 {
				return nil, errors.New("invalid number of arguments for " + orig.Name)
			}
			return fast(args[0]), nil
		}
	}
	f := &builtin.Function{Name: orig.Name}
	f.Func = func(args ...any) (any, error) {
		if len(args) == 0 {
			return nil, errors.New("internal: missing evaluation scope")
		}
		out, err := call(args[1:]...)
		if err != nil {
			return nil, err
		}
		if err := charge(args[0], out); err != nil {
			return nil, err
		}
		return out, nil
	}
	if orig.Validate != nil {
		validate := orig.Validate
		f.Validate = func(args []reflect.Type) (reflect.Type, error) {
			if len(args) == 0 {
				return nil, errors.New("internal: missing evaluation scope")
			}
			return validate(args[1:])
		}
	}
	for _, t := range orig.Types {
		in := []reflect.Type{anyType}
		for i := 0; i < t.NumIn(); i++ {
			in = append(in, t.In(i))
		}
		out := make([]reflect.Type, t.NumOut())
		for i := range out {
			out[i] = t.Out(i)
		}
		f.Types = append(f.Types, reflect.FuncOf(in, out, t.IsVariadic()))
	}
	return f
}

// patch rewrites string "+" into $add($env, a, b) and passes $env first to
// the wrapped builtins. It runs once, after a first type check, so operand
// types are known: numeric, time and duration additions are left alone.
type patch struct{}

var wrapped = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range grows {
		m[n] = true
	}
	return m
}()

// Visit implements ast.Visitor.
func (patch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator != "+" || unmetered(n.Left) && unmetered(n.Right) {
			return
		}
		_, ls := n.Left.(*ast.StringNode)
		_, rs := n.Right.(*ast.StringNode)
		if ls && rs {
			return // folded by the optimizer; bounded by the source size
		}
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: addName},
			Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}, n.Left, n.Right},
		})
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || !wrapped[id.Value] {
			return
		}
		n.Arguments = append([]ast.Node{&ast.IdentifierNode{Value: "$env"}}, n.Arguments...)
	}
}

// unmetered reports whether n is known to be a number, a time or a duration,
// whose sums do not grow.
func unmetered(n ast.Node) bool {
	t := n.Type()
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Struct:
		return t.String() == "time.Time"
	}
	return false
}
