package rules

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/assethooks/assethooks/internal/golden"
)

// TestDocs keeps docs/rules.md true: every name of the environment is
// documented there, and its cookbook section is Cookbook. UPDATE=1 go test
// ./rules/ -run TestDocs (or go generate ./rules/) rewrites the section.
func TestDocs(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("| what | condition |\n| --- | --- |\n")
	for _, r := range Cookbook {
		fmt.Fprintf(&b, "| %s | `%s` |\n", r.Name, strings.ReplaceAll(r.Condition, "|", `\|`))
	}
	golden.Section(t, "../docs/rules.md", "cookbook", b.Bytes())

	doc, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.TypeOf(vars{})
	for i := 0; i < v.NumField(); i++ {
		name := v.Field(i).Tag.Get("expr")
		if name == "" {
			continue
		}
		want := "`" + name + "`"
		if v.Field(i).Type.Kind() == reflect.Func {
			want = "`" + name + "("
		}
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("docs/rules.md does not document %s", want)
		}
	}
}
