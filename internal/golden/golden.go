// Package golden keeps generated documentation true: a test renders a
// document (or a section of one) from the code and compares it with the
// file in the repository; with UPDATE=1 in the environment it writes the
// file instead (`UPDATE=1 go test ./...`, or `go generate ./...`).
package golden

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// Updating reports whether tests should rewrite the files (UPDATE=1).
func Updating() bool { return os.Getenv("UPDATE") == "1" }

// File fails the test unless the file at path holds exactly want; with
// UPDATE=1 it writes want there.
func File(t testing.TB, path string, want []byte) {
	t.Helper()
	if Updating() {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE=1 go test writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the code generates; run UPDATE=1 go test (or go generate ./...) and commit it.\n%s", path, firstDiff(got, want))
	}
}

// Section fails the test unless the lines between "<!-- begin NAME -->" and
// "<!-- end NAME -->" in the file at path are exactly want (which ends with
// a newline); with UPDATE=1 it replaces them.
func Section(t testing.TB, path, name string, want []byte) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	begin := []byte("<!-- begin " + name + " -->\n")
	end := []byte("<!-- end " + name + " -->")
	i := bytes.Index(doc, begin)
	j := bytes.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no section %q (the lines between %q and %q)", path, name, begin, end)
	}
	got := doc[i+len(begin) : j]
	if Updating() {
		out := append(append(append([]byte{}, doc[:i+len(begin)]...), want...), doc[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: section %s differs from what the code generates; run UPDATE=1 go test (or go generate ./...) and commit it.\n%s", path, name, firstDiff(got, want))
	}
}

// firstDiff shows the first line that differs.
func firstDiff(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return fmt.Sprintf("line %d:\n  file:      %q\n  generated: %q", i+1, gl, wl)
		}
	}
	return ""
}
