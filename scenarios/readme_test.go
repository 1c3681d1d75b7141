package scenarios

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// The README's counts of the catalogue follow the catalogue: every
// "catalogue (N)", "all N predicted", "whole catalogue (N scenarios)" is
// the number of scenarios, and "N of its M" about the inbound family is
// that family's size.
func TestReadmeCountsMatchCatalogue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	all := Catalogue()
	inbound := 0
	for _, s := range all {
		if s.Family == Inbound {
			inbound++
		}
	}
	checks := []struct {
		re   string
		want int
	}{
		{`catalogue \((\d+)\)`, len(all)},
		{`catalogue \((\d+) scenarios\)`, len(all)},
		{`all (\d+) predicted`, len(all)},
		{`inbound family runs here too[^(]*\(\d+ of its (\d+)`, inbound},
	}
	found := 0
	for _, c := range checks {
		for _, m := range regexp.MustCompile(c.re).FindAllStringSubmatch(string(data), -1) {
			found++
			if n, _ := strconv.Atoi(m[1]); n != c.want {
				t.Errorf("README.md says %q: want %d", m[0], c.want)
			}
		}
	}
	if found == 0 {
		t.Error("README.md states no catalogue count this test knows: update the patterns")
	}
}
