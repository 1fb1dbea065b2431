package rules

import "slices"

// Stage is where the match of a rule against an event ended: StageMatched,
// or the first check that turned it down. Routing traces record it for every
// webhook, so that "why did (not) my webhook fire" is answered from what the
// router saw rather than recomputed later.
type Stage uint8

// The stages, in the order the router meets them. StageTrigger and
// StageSelf are decided by the caller (the Index's candidates, the engine's
// own events about a webhook); Check decides the others.
const (
	StageMatched   Stage = iota
	StageDisabled        // the rule is disabled
	StageTrigger         // its triggers do not cover the event's type
	StageSelf            // an operational event about the rule's own webhook
	StageProject         // its project_id is not the event's
	StageUsers           // its users do not include the event's actor
	StageFolder          // its folder does not hold the asset's path (nor the destination)
	StageCondition       // its condition was false or failed at run time
)

var stageNames = [...]string{StageMatched: "matched", StageDisabled: "disabled", StageTrigger: "trigger",
	StageSelf: "self", StageProject: "project", StageUsers: "users", StageFolder: "folder",
	StageCondition: "condition"}

// String is the stage's name as the API shows it ("folder").
func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "unknown"
}

// ParseStage is the stage named s (String's inverse); false when unknown.
func ParseStage(s string) (Stage, bool) {
	for i, n := range stageNames {
		if n == s {
			return Stage(i), true
		}
	}
	return 0, false
}

// Check is Match telling where it ended: StageMatched when the rule matches,
// else the first of disabled, project, users, folder and condition that
// turned it down. A condition that fails at run time gives StageCondition
// and its error. It evaluates the condition at most once, as Match does.
func (r *Rule) Check(e *Evaluator, env *Env) (Stage, error) {
	if r.Disabled {
		return StageDisabled, nil
	}
	if env == nil {
		env = emptyEnv
	}
	ev := env.ev
	if r.ProjectID != "" && r.ProjectID != ev.ProjectID {
		return StageProject, nil
	}
	if len(r.Users) > 0 && !slices.Contains(r.Users, ev.Actor.Username) {
		return StageUsers, nil
	}
	if r.Folder != "" && !matchGlob(r.Folder, env.path) &&
		!(ev.Destination != "" && matchGlob(r.Folder, env.after)) {
		return StageFolder, nil
	}
	if r.Condition == nil {
		return StageMatched, nil
	}
	ok, err := e.Eval(r.Condition, env)
	if err != nil || !ok {
		return StageCondition, err
	}
	return StageMatched, nil
}

// Destination is where the asset is after the event: the event's
// destination for a move or copy (with the asset's name joined when it
// names a folder), else Path. Rule.Folder matches it besides Path.
func (x *Env) Destination() string { return x.after }
