package rules

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Evaluator runs compiled conditions and templates. It holds a reusable expr
// VM and an evaluation scope, so one Evaluator serves one goroutine: it is
// not safe for concurrent use. The zero value is not usable; call
// NewEvaluator.
type Evaluator struct {
	vm    vm.VM
	scope vars
}

// NewEvaluator returns an Evaluator whose VM has the MemoryBudget.
func NewEvaluator() *Evaluator {
	e := &Evaluator{}
	e.vm.MemoryBudget = MemoryBudget
	return e
}

var emptyEnv = NewEnv(nil, nil, time.Time{})

// Eval runs c against env. A run-time error (a missing field read without
// ?., a type mismatch, the memory budget…) gives false and the error; Eval
// never panics. A nil c matches.
func (e *Evaluator) Eval(c *Condition, env *Env) (ok bool, err error) {
	if c == nil {
		return true, nil
	}
	out, err := e.run(c.prog, env)
	if err != nil {
		return false, err
	}
	b, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("rules: condition returned %T, not a boolean", out)
	}
	return b, nil
}

// Render runs t against env and returns the map that replaces a payload's
// data. A result that is not a map with string keys is an error.
func (e *Evaluator) Render(t *Template, env *Env) (map[string]any, error) {
	if t == nil {
		return nil, fmt.Errorf("rules: nil template")
	}
	out, err := e.run(t.prog, env)
	if err != nil {
		return nil, err
	}
	m, ok := out.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("rules: template returned %T, not an object", out)
	}
	return m, nil
}

func (e *Evaluator) run(prog *vm.Program, env *Env) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("rules: evaluation panicked: %v", r)
			e.vm = vm.VM{MemoryBudget: MemoryBudget}
		}
	}()
	if env == nil {
		env = emptyEnv
	}
	env.prepare()
	e.scope = env.v
	out, err = e.vm.Run(prog, &e.scope)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return out, nil
}
