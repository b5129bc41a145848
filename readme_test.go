package switchboard

import (
	"os"
	"strings"
	"testing"
)

// The README's Layout table names every top-level folder of the tree and
// every command's folder, so that a newcomer's map stays true.
func TestReadmeLayoutNamesEveryFolder(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	var folders []string
	for _, parent := range []string{".", "cmd"} {
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || e.Name() == "cmd" || e.Name() == "testdata" || e.Name() == "bin" {
				continue
			}
			name := e.Name() + "/"
			if parent != "." {
				name = parent + "/" + name
			}
			folders = append(folders, name)
		}
	}
	for _, f := range folders {
		if !strings.Contains(layout, "`"+f) {
			t.Errorf("the README's Layout table does not name %s", f)
		}
	}
}
