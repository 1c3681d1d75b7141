package envoy

import "sync/atomic"

// nameIndex finds a resource by name in one of a Config's slices without
// scanning it: a mesh's sidecar holds tens of thousands of clusters, and
// analyze looks one up for every listener it walks, so a scan per lookup
// made a scope's walk quadratic in its Services. The index is built on
// first use and rebuilt when the slice's length changes; a hit is
// checked against the slice and a miss falls back to the scan, so a
// Config changed after a lookup still answers as the scan would.
type nameIndex struct {
	p atomic.Pointer[namePositions]
}

type namePositions struct {
	n   int
	pos map[string]int
}

// findNamed returns the first element of s named name, or the zero value.
func findNamed[T any](ix *nameIndex, s []T, name string, nameOf func(T) string) (T, bool) {
	p := ix.p.Load()
	if p == nil || p.n != len(s) {
		p = &namePositions{n: len(s), pos: make(map[string]int, len(s))}
		for i, e := range s {
			if _, dup := p.pos[nameOf(e)]; !dup {
				p.pos[nameOf(e)] = i
			}
		}
		ix.p.Store(p)
	}
	if i, ok := p.pos[name]; ok && i < len(s) && nameOf(s[i]) == name {
		return s[i], true
	}
	for _, e := range s {
		if nameOf(e) == name {
			return e, true
		}
	}
	var zero T
	return zero, false
}
