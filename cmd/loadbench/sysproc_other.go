//go:build !linux

package main

import (
	"os"
	"os/exec"
)

// terminate is the signal that asks an engine to shut down.
var terminate = os.Interrupt

// setDeathSignal does nothing outside Linux: there loadbench stops its
// engines only on its own exit paths.
func setDeathSignal(*exec.Cmd) {}
