package analyze

import (
	"slices"
	"testing"
)

// TestScopeNameLeavesOutCoveredWorkloads: a workload whose namespace is a
// member of the same scope is named by the namespace, not again by itself
// (a large mesh's default scope would otherwise name every workload in
// every finding), while Members still lists it and a workload of another
// namespace, or one with its own Sidecar, is still named.
func TestScopeNameLeavesOutCoveredWorkloads(t *testing.T) {
	s := &Scope{Members: []string{"shop", "orders", "shop/api", "orders/db", "billing/worker"}}
	if got, want := s.describe(), "shop, orders, billing/worker"; got != want {
		t.Errorf("describe() = %q, want %q", got, want)
	}
	if !slices.Contains(s.Members, "shop/api") {
		t.Errorf("Members lost a covered workload: %v", s.Members)
	}
	own := &Scope{Members: []string{"shop/api"}, Sidecar: "shop/api-only"}
	if got, want := own.describe(), "shop/api (Sidecar shop/api-only)"; got != want {
		t.Errorf("describe() = %q, want %q", got, want)
	}
}
