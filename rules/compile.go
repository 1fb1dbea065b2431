package rules

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Limits on what a condition or template may cost.
const (
	// MaxConditionBytes is the longest condition source Compile accepts.
	MaxConditionBytes = 4096
	// MaxTemplateBytes is the longest template source CompileTemplate accepts.
	MaxTemplateBytes = 16384
	// MaxNodes bounds the size of a compiled expression's syntax tree.
	MaxNodes = 2000
	// MemoryBudget is expr's VM budget per evaluation: roughly the number of
	// list elements, map entries and loop iterations an expression may create
	// or run (expr's own unit). Exceeding it is a run-time error.
	MemoryBudget = 100_000
	// MaxEvalBytes bounds the bytes of strings and lists that string
	// concatenation and the growing builtins (join, replace, repeat, toJSON,
	// string, concat, flatten, toBase64, split…) may produce in one
	// evaluation. Exceeding it is a run-time error.
	MaxEvalBytes = 1 << 20
)

// CompileError is a condition or template that does not compile, with the
// 1-based line and column (counted in characters) of the fault, as an
// editor shows them.
type CompileError struct {
	Msg          string
	Line, Column int
}

// Error implements error.
func (e *CompileError) Error() string {
	return fmt.Sprintf("%s (line %d, column %d)", e.Msg, e.Line, e.Column)
}

// Condition is a compiled boolean expression, ready to be evaluated for any
// number of events by an Evaluator. It is immutable and safe to share.
type Condition struct {
	src  string
	prog *vm.Program
}

// Source is the expression the condition was compiled from.
func (c *Condition) Source() string { return c.src }

// Template is a compiled expression whose result is a map; it replaces a
// webhook payload's data (SPEC §6). It is immutable and safe to share.
type Template struct {
	src  string
	prog *vm.Program
}

// Source is the expression the template was compiled from.
func (t *Template) Source() string { return t.src }

// Compile compiles a condition against the rule environment. Unknown names,
// misspelt helpers, wrong argument types and results that are not booleans
// are refused here, not when an event arrives. An empty source is an error:
// callers treat "" as "no condition" before calling. Errors are
// *CompileError.
func Compile(src string) (*Condition, error) {
	if len(src) > MaxConditionBytes {
		return nil, &CompileError{Msg: fmt.Sprintf("condition is longer than %d bytes", MaxConditionBytes), Line: 1, Column: 1}
	}
	prog, err := compile(src, "condition", expr.AsBool())
	if err != nil {
		return nil, err
	}
	if err := checkBoolean(src, prog.Node()); err != nil {
		return nil, err
	}
	return &Condition{src: src, prog: prog}, nil
}

// CompileTemplate compiles a payload template: an expression over the rule
// environment whose result must be a map, such as
// {"id": asset.uuid, "title": get("info.title") ?? asset.name}. Errors are
// *CompileError.
func CompileTemplate(src string) (*Template, error) {
	if len(src) > MaxTemplateBytes {
		return nil, &CompileError{Msg: fmt.Sprintf("template is longer than %d bytes", MaxTemplateBytes), Line: 1, Column: 1}
	}
	prog, err := compile(src, "template", expr.AsKind(reflect.Map))
	if err != nil {
		return nil, err
	}
	return &Template{src: src, prog: prog}, nil
}

func compile(src, what string, result expr.Option) (*vm.Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &CompileError{Msg: what + " is empty", Line: 1, Column: 1}
	}
	opts := []expr.Option{
		expr.Env(&vars{}),
		result,
		expr.MaxNodes(MaxNodes),
		// Replaced by the environment's own now() (fixed per event) and get(path).
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("get"),
		metered,
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, compileError(src, err)
	}
	if err := checkArgs(src, prog.Node()); err != nil {
		return nil, err
	}
	return prog, nil
}

// compileError turns expr's errors into *CompileError. expr's columns are
// 0-based; a result-type error has no position and is reported at the first
// character of the expression.
func compileError(src string, err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		line, col := fe.Line, fe.Column+1
		if line == 0 {
			line = 1
		}
		return &CompileError{Msg: fe.Message, Line: line, Column: col}
	}
	line, col := firstChar(src)
	return &CompileError{Msg: err.Error(), Line: line, Column: col}
}

func firstChar(src string) (line, col int) {
	line, col = 1, 1
	for _, r := range src {
		switch r {
		case '\n':
			line, col = line+1, 1
		case ' ', '\t', '\r':
			col++
		default:
			return line, col
		}
	}
	return line, col
}

// pathArgs are helpers whose first argument is a dotted path; globArgs take a
// folder glob. Their Go types take any (see vars), so their argument types
// are checked here.
var (
	pathArgs = map[string]bool{"changedTo": true, "changedFrom": true, "get": true, "oldGet": true}
	globArgs = map[string]bool{"inFolder": true, "movedFrom": true, "movedTo": true}
)

// checkArgs refuses a non-string path and a malformed constant glob.
func checkArgs(src string, root ast.Node) error {
	v := &argChecker{src: src}
	ast.Walk(&root, v)
	return v.err
}

type argChecker struct {
	src string
	err error
}

func (a *argChecker) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok || a.err != nil || len(call.Arguments) == 0 {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	arg := call.Arguments[0]
	switch {
	case pathArgs[id.Value]:
		if t := arg.Type(); t != nil && t.Kind() != reflect.String && t.Kind() != reflect.Interface {
			a.fail(arg, fmt.Sprintf("%s: the path must be a string, not %v", id.Value, t))
		}
	case id.Value == "since":
		if _, ok := arg.(*ast.StringNode); !ok {
			a.fail(arg, `since: the path must be a quoted string, such as since("meta.custom.status")`)
		}
	case globArgs[id.Value]:
		if s, ok := arg.(*ast.StringNode); ok {
			if why := validGlob(s.Value); why != "" {
				a.fail(arg, fmt.Sprintf("%s: folder glob %q: %s", id.Value, s.Value, why))
			}
		}
	}
}

func (a *argChecker) fail(n ast.Node, msg string) {
	fe := (&file.Error{Location: n.Location(), Message: msg}).Bind(file.NewSource(a.src))
	a.err = &CompileError{Msg: msg, Line: fe.Line, Column: fe.Column + 1}
}
