package main

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// DecodeForm decodes an application/x-www-form-urlencoded body in bracket
// notation into a nested document: "a[b][0]=x" becomes
// {"a": {"b": ["x"]}}. Values stay strings; an object whose keys are
// exactly 0..n-1 becomes an array. A key that is both a value and a
// container, or malformed brackets, is an error.
func DecodeForm(body string) (map[string]any, error) {
	vals, err := url.ParseQuery(body)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	root := map[string]any{}
	for _, k := range keys {
		path, err := splitKey(k)
		if err != nil {
			return nil, err
		}
		vs := vals[k]
		if err := put(root, path, vs[len(vs)-1]); err != nil {
			return nil, fmt.Errorf("form key %q: %w", k, err)
		}
	}
	return arrays(root).(map[string]any), nil
}

// splitKey splits "a[b][c]" into a, b, c.
func splitKey(k string) ([]string, error) {
	head, rest, _ := strings.Cut(k, "[")
	if head == "" {
		return nil, fmt.Errorf("form key %q: no name before the brackets", k)
	}
	path := []string{head}
	if rest == "" {
		if strings.Contains(k, "[") {
			return nil, fmt.Errorf("form key %q: unclosed bracket", k)
		}
		return path, nil
	}
	rest = "[" + rest
	for rest != "" {
		if rest[0] != '[' {
			return nil, fmt.Errorf("form key %q: text between brackets", k)
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("form key %q: unclosed bracket", k)
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
	}
	return path, nil
}

func put(m map[string]any, path []string, v string) error {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p]
		if !ok {
			child := map[string]any{}
			m[p] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%q is a value and a container", p)
		}
		m = child
	}
	last := path[len(path)-1]
	if _, ok := m[last].(map[string]any); ok {
		return fmt.Errorf("%q is a value and a container", last)
	}
	m[last] = v
	return nil
}

// arrays turns objects keyed 0..n-1 into arrays, depth first.
func arrays(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, x := range m {
		m[k] = arrays(x)
	}
	if len(m) == 0 {
		return m
	}
	list := make([]any, len(m))
	for k, x := range m {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(m) || strconv.Itoa(i) != k {
			return m
		}
		list[i] = x
	}
	return list
}
