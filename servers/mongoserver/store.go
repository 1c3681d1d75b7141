package mongoserver

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// store holds collections by namespace ("db.collection").
type store struct {
	mu          sync.Mutex
	collections map[string][]bson.Raw
}

func newStore() *store { return &store{collections: map[string][]bson.Raw{}} }

func (s *store) insert(ns string, docs []bson.Raw) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		// Documents alias the connection's read buffer: keep a copy.
		s.collections[ns] = append(s.collections[ns], slices.Clone(d))
	}
}

// find returns the documents of ns whose top-level fields equal every field
// of filter, at most limit of them when limit > 0.
func (s *store) find(ns string, filter bson.Raw, limit int64) ([]bson.Raw, error) {
	var conds []bson.RawElement
	if filter != nil {
		elems, err := filter.Elements()
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		for _, e := range elems {
			if strings.HasPrefix(e.Key(), "$") {
				return nil, fmt.Errorf("filter operator %s is not supported (only top-level equality)", e.Key())
			}
			if sub, ok := e.Value().DocumentOK(); ok {
				if first, err := sub.IndexErr(0); err == nil && strings.HasPrefix(first.Key(), "$") {
					return nil, fmt.Errorf("filter operator %s on %s is not supported (only top-level equality)", first.Key(), e.Key())
				}
			}
		}
		conds = elems
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bson.Raw
	for _, d := range s.collections[ns] {
		if limit > 0 && int64(len(out)) >= limit {
			break
		}
		if matches(d, conds) {
			out = append(out, d)
		}
	}
	return out, nil
}

func matches(doc bson.Raw, conds []bson.RawElement) bool {
	for _, c := range conds {
		v, err := doc.LookupErr(c.Key())
		if err != nil || !v.Equal(c.Value()) {
			return false
		}
	}
	return true
}
