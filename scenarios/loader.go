package scenarios

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The loader reads a scenario file in three steps: goccy/go-yaml parses it
// into an AST (which knows every node's line); each mapping is decoded
// strictly into its struct in fields.go, whose field types check their own
// values; then the rules in rules.go check what does not fit across
// fields. Every problem is collected and reported, by line.

// FieldError is one problem in a scenario file, reported as
// "file:line: field: problem" so editors can jump to it.
type FieldError struct {
	File    string
	Line    int
	Field   string
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, fieldText(e.Field), e.Problem)
}

// plainField is a field path as the loader writes it (mesh.timeout,
// scenarios[2]); anything else came from the user's keys and is quoted,
// so "file:line: field:" stays unambiguous (FuzzLoad found a key "0000:").
var plainField = regexp.MustCompile(`^[A-Za-z0-9_.()\[\]-]+$`)

func fieldText(f string) string {
	if plainField.MatchString(f) {
		return f
	}
	return strconv.Quote(f)
}

// LoadFile reads and validates a user scenario file. Every problem is
// reported, each as a *FieldError joined into the returned error.
func LoadFile(path string) ([]Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scenario file: %w", err)
	}
	return Parse(path, data)
}

// Parse validates scenario-file YAML. name is used in error positions and
// in each Scenario's Source.
//
// The format is a top-level mapping with one key, "scenarios", holding a
// list of scenario mappings; see scenarios/examples/ and the README.
func Parse(name string, data []byte) ([]Scenario, error) {
	body, ferr := document(name, data)
	if ferr != nil {
		return nil, ferr
	}
	l := &loader{file: name}
	var doc fileDoc
	l.decode(body, "", &doc)
	list, ok := unwrap(doc.Scenarios.node).(*ast.SequenceNode)
	switch {
	case !doc.Scenarios.given() && len(l.errs) == 0:
		l.fail(body, "scenarios", "missing: the file needs a top-level \"scenarios:\" list")
	case doc.Scenarios.given() && !ok:
		l.fail(doc.Scenarios.node, "scenarios", "want a list of scenarios")
	}
	var out []Scenario
	if ok {
		out = l.scenarios(list)
	}
	if len(l.errs) > 0 {
		// By line; problems on one line keep the order they were found in.
		slices.SortStableFunc(l.errs, func(a, b error) int { return cmp.Compare(a.(*FieldError).Line, b.(*FieldError).Line) })
		return nil, errors.Join(l.errs...)
	}
	if len(out) == 0 {
		return nil, &FieldError{File: name, Line: line(doc.Scenarios.node), Field: "scenarios", Problem: "the list is empty: add at least one scenario"}
	}
	return out, nil
}

// document parses the file and returns its first document's top-level
// mapping.
func document(name string, data []byte) (ast.Node, *FieldError) {
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, syntaxError(name, err)
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil && f.Docs[0].Start == nil {
		// No document at all: the message of the yaml.v3 loader, kept
		// (the fuzz corpus pins it).
		return nil, &FieldError{File: name, Line: 1, Field: "(yaml)", Problem: "EOF"}
	}
	var top ast.Node = f.Docs[0]
	if body := f.Docs[0].Body; body != nil {
		top = body
	}
	if _, ok := unwrap(top).(ast.MapNode); !ok {
		return nil, &FieldError{File: name, Line: line(top), Field: "(document)", Problem: "want a mapping with a \"scenarios\" list"}
	}
	return top, nil
}

// syntaxError places a YAML syntax error at the token the parser choked
// on.
func syntaxError(name string, err error) *FieldError {
	var located yaml.Error
	if errors.As(err, &located) && located.GetToken() != nil {
		return &FieldError{File: name, Line: max(located.GetToken().Position.Line, 1), Field: "(yaml)",
			Problem: located.GetMessage() + ": check the indentation and quoting there"}
	}
	return &FieldError{File: name, Line: 1, Field: "(yaml)", Problem: err.Error()}
}

// loader collects the problems of one file.
type loader struct {
	file string
	errs []error
}

func (l *loader) fail(n ast.Node, field, problem string) {
	l.errs = append(l.errs, &FieldError{File: l.file, Line: line(n), Field: field, Problem: problem})
}

// scenarios reads the items of the scenarios list; ids must be unique.
func (l *loader) scenarios(list *ast.SequenceNode) []Scenario {
	var out []Scenario
	seen := map[string]int{}
	for _, n := range list.Values {
		s, ok := l.scenario(n)
		if !ok {
			continue
		}
		if first, dup := seen[s.ID]; dup {
			l.fail(n, "id", fmt.Sprintf("duplicate id %q (first defined at line %d): ids must be unique", s.ID, first))
			continue
		}
		seen[s.ID] = line(n)
		out = append(out, s)
	}
	return out
}

// scenario reads one list item: ok is false when it had problems (already
// recorded).
func (l *loader) scenario(n ast.Node) (Scenario, bool) {
	before := len(l.errs)
	var d scenarioDoc
	if !l.decode(n, "", &d) {
		return Scenario{}, false
	}
	s := d.scenario(fmt.Sprintf("%s:%d", l.file, line(n)))
	r := row{Scenario: s, doc: &d, item: n}
	for _, rule := range rules {
		if rule.applies(r) && !rule.check(r) {
			at, _ := lookup(n, cmp.Or(rule.at, rule.field))
			l.fail(at, rule.field, rule.message(r))
		}
	}
	if s.Ambient != nil {
		// Only a sidecar client runs a sidecar: the targets' client-side
		// walk reads Security as for any other family.
		s.Security.NoClientSidecar = s.Ambient.Client != ClientSidecar
	}
	return s, len(l.errs) == before
}

// decode reads the mapping n strictly into the struct *dst: every key must
// name one of its fields (by yaml tag), once. Each value is decoded by its
// field's type, in the file's order. prefix qualifies field names in
// errors ("collider." in a nested mapping). It reports false when n is not
// a mapping.
func (l *loader) decode(n ast.Node, prefix string, dst any) bool {
	m, ok := unwrap(n).(ast.MapNode)
	if !ok {
		l.fail(n, strings.TrimSuffix(prefix, "."), "want a mapping")
		return false
	}
	v := reflect.ValueOf(dst).Elem()
	index, known := schema(v.Type())
	seen := map[string]bool{}
	for it := m.MapRange(); it.Next(); {
		key, _ := scalar(it.Key())
		i, ok := index[key]
		switch {
		case !ok:
			l.fail(it.Key(), prefix+key, "unknown field (known: "+known+")")
		case seen[key]:
			l.fail(it.Key(), prefix+key, "given twice")
		default:
			seen[key] = true
			v.Field(i).Addr().Interface().(decoder).decode(l, it.Value(), prefix+key)
		}
	}
	return true
}

// A decoder is the type of a field in the schema (fields.go): it reads its
// node, reporting to l what is wrong with the value.
type decoder interface {
	decode(l *loader, n ast.Node, field string)
}

// schema maps a struct's yaml keys to its fields, and lists the keys.
func schema(t reflect.Type) (map[string]int, string) {
	index := map[string]int{}
	var keys []string
	for i := range t.NumField() {
		if key := t.Field(i).Tag.Get("yaml"); key != "" {
			index[key] = i
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return index, strings.Join(keys, ", ")
}

// scalar is the text of a single value as the file wrote it; ok is false
// for a list, a mapping or an alias.
func scalar(n ast.Node) (string, bool) {
	switch n := unwrap(n).(type) {
	case nil:
		return "", true
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		return n.Value.Value, true
	case *ast.AliasNode:
		return "", false
	case *ast.NullNode:
		if n.Token.Type == token.ImplicitNullType {
			return "", true
		}
		return n.Token.Value, true
	case ast.ScalarNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// unwrap looks through an anchor, a tag or an explicit key ("? key") to
// the node it marks.
func unwrap(n ast.Node) ast.Node {
	for {
		switch w := n.(type) {
		case *ast.AnchorNode:
			n = w.Value
		case *ast.TagNode:
			n = w.Value
		case *ast.MappingKeyNode:
			n = w.Value
		default:
			return n
		}
	}
}

// lookup finds the node of a field path ("remediation.addresses") in a
// scenario item. When the field is not given, it returns the node of the
// nearest field on the path that is, or the item itself, and false.
func lookup(item ast.Node, path string) (ast.Node, bool) {
	n := item
	for _, key := range strings.Split(path, ".") {
		p, err := yaml.PathString("$." + key)
		if err != nil {
			return n, false
		}
		next, err := p.FilterNode(unwrap(n))
		if err != nil || next == nil {
			return n, false
		}
		n = next
	}
	return n, true
}

// line is the line a node starts on.
func line(n ast.Node) int {
	if n == nil || n.GetToken() == nil {
		return 1
	}
	return max(n.GetToken().Position.Line, 1)
}
