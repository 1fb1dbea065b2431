package api_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// slug is GitHub's anchor of a heading.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('-')
		case r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The README and the docs are the whole reference: every link between them
// resolves inside the repository (file and heading), and none points outside
// it but to web addresses.
func TestDocsLinks(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	anchors := map[string]map[string]bool{}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, f := range files {
		a := map[string]bool{}
		for _, m := range mdHeading.FindAllStringSubmatch(read(f), -1) {
			a[slug(m[1])] = true
		}
		anchors[filepath.Clean(f)] = a
	}
	for _, f := range files {
		text := read(f)
		if strings.Contains(text, "../shared") {
			t.Errorf("%s points outside the repository (../shared)", f)
		}
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			link := m[1]
			if strings.HasPrefix(link, "http://") || strings.HasPrefix(link, "https://") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			path := filepath.Clean(f)
			if target != "" {
				path = filepath.Clean(filepath.Join(filepath.Dir(f), target))
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s: link %s: %v", f, link, err)
					continue
				}
				if rel, _ := filepath.Rel("..", path); strings.HasPrefix(rel, "..") {
					t.Errorf("%s: link %s leaves the repository", f, link)
				}
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !anchors[path][anchor] {
				t.Errorf("%s: link %s: no heading #%s in %s", f, link, anchor, path)
			}
		}
	}
}
