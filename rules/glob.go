package rules

import (
	"path"
	"strings"
)

// matchGlob reports whether the slash-separated path p matches pattern. A
// "**" segment matches any number of segments (zero included); any other
// segment is matched with path.Match, so "*" and "?" never cross a "/". A
// pattern without a wildcard, or one that ends in "/", names a folder and
// matches the folder and everything under it: "/marketing" is
// "/marketing/**". It does not allocate.
func matchGlob(pattern, p string) bool {
	if pattern == "" || p == "" {
		return false
	}
	if strings.HasSuffix(pattern, "/") {
		return matchSegs(pattern+"**", p)
	}
	if !strings.ContainsAny(pattern, "*?[") {
		return p == pattern || (strings.HasPrefix(p, pattern) && len(p) > len(pattern) && p[len(pattern)] == '/')
	}
	return matchSegs(pattern, p)
}

// matchSegs matches segment by segment; both start with "/".
func matchSegs(pattern, p string) bool {
	pattern = strings.TrimPrefix(pattern, "/")
	p = strings.TrimPrefix(p, "/")
	return segs(pattern, p)
}

func segs(pattern, p string) bool {
	for {
		if pattern == "" {
			return p == ""
		}
		pseg, prest := cut(pattern)
		if pseg == "**" {
			if prest == "" {
				return true
			}
			for {
				if segs(prest, p) {
					return true
				}
				if p == "" {
					return false
				}
				_, p = cut(p)
			}
		}
		if p == "" {
			return false
		}
		seg, rest := cut(p)
		if ok, err := path.Match(pseg, seg); err != nil || !ok {
			return false
		}
		pattern, p = prest, rest
	}
}

// cut splits s at its first "/".
func cut(s string) (head, rest string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// validGlob reports why pattern is not a usable folder glob, or "".
func validGlob(pattern string) string {
	if !strings.HasPrefix(pattern, "/") {
		return "Must start with \"/\""
	}
	rest := strings.TrimPrefix(pattern, "/")
	for rest != "" {
		var seg string
		seg, rest = cut(rest)
		if seg == "**" {
			continue
		}
		if strings.Contains(seg, "**") {
			return "\"**\" must be a whole path segment"
		}
		if _, err := path.Match(seg, ""); err != nil {
			return "Malformed glob"
		}
	}
	return ""
}

// joinPath is the asset's full path: path when it already ends with
// "/"+name, else path taken as the folder and name joined to it.
func joinPath(p, name string) string {
	if name == "" {
		return p
	}
	if p == "" {
		return "/" + name
	}
	if strings.HasSuffix(p, "/"+name) {
		return p
	}
	if strings.HasSuffix(p, "/") {
		return p + name
	}
	return p + "/" + name
}
