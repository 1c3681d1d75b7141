package scenarios

import (
	_ "embed"
	"fmt"
	"sync"
)

//go:embed catalogue.yaml
var catalogueYAML []byte

// CatalogueFile is the name the built-in catalogue reports in positions.
const CatalogueFile = "scenarios/catalogue.yaml"

var catalogue = sync.OnceValues(func() ([]Scenario, error) {
	return Parse(CatalogueFile, catalogueYAML)
})

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

// Lookup finds a scenario by id in the given list.
func Lookup(all []Scenario, id string) (Scenario, bool) {
	for _, s := range all {
		if s.ID == id {
			return s, true
		}
	}
	return Scenario{}, false
}
