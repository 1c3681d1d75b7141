package scenarios

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
)

// The built-in catalogue is catalogue.yaml plus one file per newer family
// (catalogue-<family>.yaml). Families live in their own files so that each
// can grow without touching the others; ids are unique across all of them.
//
//go:embed catalogue*.yaml
var catalogueFS embed.FS

// CatalogueFile names the built-in catalogue in reports and plans. Positions
// inside it name the family file (scenarios/catalogue-ambient.yaml:12).
const CatalogueFile = "scenarios/catalogue*.yaml"

// catalogueFiles returns the family files in a stable order: catalogue.yaml
// first, then the others by name.
func catalogueFiles() ([]string, error) {
	names, err := fs.Glob(catalogueFS, "catalogue*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "catalogue.yaml") != (names[j] == "catalogue.yaml") {
			return names[i] == "catalogue.yaml"
		}
		return names[i] < names[j]
	})
	return names, nil
}

var catalogue = sync.OnceValues(func() ([]Scenario, error) {
	names, err := catalogueFiles()
	if err != nil {
		return nil, err
	}
	var all []Scenario
	var errs []error
	for _, name := range names {
		data, err := catalogueFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		list, err := Parse(path.Join("scenarios", name), data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, list...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := CheckUnique(all); err != nil {
		return nil, err
	}
	return all, nil
})

// catalogueData returns the raw bytes of every family file (the fuzz seeds).
func catalogueData() [][]byte {
	names, _ := catalogueFiles()
	var out [][]byte
	for _, n := range names {
		if b, err := catalogueFS.ReadFile(n); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// Catalogue returns the built-in scenarios. The catalogue is data checked by
// the same loader as user files; a broken catalogue is a build defect, so
// Catalogue panics rather than let a target run half a table.
func Catalogue() []Scenario {
	all, err := catalogue()
	if err != nil {
		panic(fmt.Sprintf("built-in catalogue is invalid: %v", err))
	}
	return append([]Scenario(nil), all...)
}

// CatalogueFamilies lists the family files of the built-in catalogue, for
// messages that tell a user where to look.
func CatalogueFamilies() string {
	names, _ := catalogueFiles()
	for i, n := range names {
		names[i] = path.Join("scenarios", n)
	}
	return strings.Join(names, ", ")
}

// CheckUnique reports ids that appear in more than one source, such as a
// user file reusing a catalogue id.
func CheckUnique(all []Scenario) error {
	seen := map[string]string{}
	var errs []error
	for _, s := range all {
		if prev, ok := seen[s.ID]; ok {
			errs = append(errs, fmt.Errorf("%s: id: duplicate id %q, already defined by %s: rename one of them", s.Source, s.ID, prev))
			continue
		}
		seen[s.ID] = s.Source
	}
	return errors.Join(errs...)
}

// Lookup finds a scenario by id in the given list.
func Lookup(all []Scenario, id string) (Scenario, bool) {
	for _, s := range all {
		if s.ID == id {
			return s, true
		}
	}
	return Scenario{}, false
}
