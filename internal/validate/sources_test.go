package validate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/validate"
)

// parseDir parses the non-test Go files of a package folder.
func parseDir(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", p, err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	return fset, files
}

// ruleConstants returns the model package's Rule* string constants by name, and how often the
// model package uses each one outside its declaration.
func ruleConstants(t *testing.T) (consts map[string]string, uses map[string]int) {
	t.Helper()
	_, files := parseDir(t, "../model")
	consts, uses = map[string]string{}, map[string]int{}
	declared := map[*ast.Ident]bool{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					declared[name] = true
					if !strings.HasPrefix(name.Name, "Rule") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Errorf("model.%s is not a string literal; this test cannot read it", name.Name)
						continue
					}
					consts[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && !declared[id] && strings.HasPrefix(id.Name, "Rule") {
				uses[id.Name]++
			}
			return true
		})
	}
	if len(consts) < 5 {
		t.Fatalf("found %d Rule* constants in internal/model, want at least the loader's 5: %v", len(consts), consts)
	}
	return consts, uses
}

// reportedRules returns the rule id of every c.report call in the validate package, with where
// it is made.
func reportedRules(t *testing.T, consts map[string]string) map[string][]string {
	t.Helper()
	fset, files := parseDir(t, ".")
	ids := map[string][]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "report" || len(call.Args) < 2 {
				return true
			}
			where := fset.Position(call.Pos()).String()
			switch arg := call.Args[1].(type) {
			case *ast.BasicLit:
				id, err := strconv.Unquote(arg.Value)
				if arg.Kind != token.STRING || err != nil {
					t.Errorf("%s: the rule id %s is not a string", where, arg.Value)
					return true
				}
				ids[id] = append(ids[id], where)
			case *ast.SelectorExpr:
				pkg, ok := arg.X.(*ast.Ident)
				id, known := consts[arg.Sel.Name]
				if !ok || pkg.Name != "model" || !known {
					t.Errorf("%s: the rule id is %s.%s; write a string literal or a model.Rule* constant so this test can see it", where, pkg, arg.Sel.Name)
					return true
				}
				ids[id] = append(ids[id], where)
			default:
				t.Errorf("%s: the rule id is not a string literal or a model.Rule* constant; this test cannot see it", where)
			}
			return true
		})
	}
	if len(ids) < 30 {
		t.Fatalf("found %d rule ids in c.report calls, want the validator's 30 or more: %v", len(ids), ids)
	}
	return ids
}

// knownUnlisted are model.Rule* constants that are neither reported nor in Rules(), with why.
// Each entry is a bug to fix (report it and list it, or delete the constant); the test fails
// once an entry is no longer needed, so the list cannot go stale.
var knownUnlisted = map[string]string{}

func TestReportedRulesAreListed(t *testing.T) {
	listed := map[string]bool{}
	for _, r := range validate.Rules() {
		listed[r.ID] = true
	}
	consts, uses := ruleConstants(t)
	for id, where := range reportedRules(t, consts) {
		if !listed[id] {
			t.Errorf("rule %q is reported (%s) but Rules() does not list it", id, strings.Join(where, ", "))
		}
	}
	for name, id := range consts {
		if listed[id] {
			if _, ok := knownUnlisted[id]; ok {
				t.Errorf("model.%s (%q) is now in Rules(); remove it from knownUnlisted", name, id)
			}
			continue
		}
		if _, ok := knownUnlisted[id]; !ok {
			t.Errorf("model.%s (%q) is a loader rule that Rules() does not list", name, id)
		} else if uses[name] > 0 {
			t.Errorf("model.%s (%q) is now used in internal/model; list it in Rules() and remove it from knownUnlisted", name, id)
		}
	}
	for id := range knownUnlisted {
		found := false
		for _, v := range consts {
			found = found || v == id
		}
		if !found {
			t.Errorf("knownUnlisted names %q, which is no longer a model.Rule* constant; remove it", id)
		}
	}
}
