package deploy

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type workflow struct {
	Name string         `yaml:"name"`
	On   map[string]any `yaml:"on"`
	Jobs map[string]struct {
		RunsOn string `yaml:"runs-on"`
		Steps  []struct {
			Uses string `yaml:"uses"`
			Run  string `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

var makeCall = regexp.MustCompile(`\bmake ([a-z-]+)`)

// TestWorkflows checks the GitHub workflows parse, run what they should,
// and that every make target they call exists: the root Makefile's test and
// lint, and this fragment's targets (dry-run).
func TestWorkflows(t *testing.T) {
	files, _ := filepath.Glob("../.github/workflows/*.yml")
	runs := map[string]string{}
	for _, f := range files {
		var w workflow
		readYAML(t, f, &w)
		name := strings.TrimSuffix(filepath.Base(f), ".yml")
		if w.Name == "" || len(w.On) == 0 || len(w.Jobs) == 0 {
			t.Errorf("%s: want name, on and jobs", f)
		}
		for job, j := range w.Jobs {
			if j.RunsOn == "" || len(j.Steps) == 0 {
				t.Errorf("%s %s: no runs-on or steps", f, job)
			}
			for _, s := range j.Steps {
				runs[name] += s.Run + "\n"
			}
		}
		if name == "release" {
			if push, _ := w.On["push"].(map[string]any); push == nil || push["tags"] == nil {
				t.Errorf("%s: not triggered by tags", f)
			}
		}
	}
	for name, want := range map[string]string{
		"test":      "make test",
		"lint":      "make lint",
		"release":   "make release",
		"terraform": "fmt -check -recursive",
	} {
		if !strings.Contains(runs[name], want) {
			t.Errorf("workflow %s does not run %q", name, want)
		}
	}
	for name, r := range runs {
		for _, m := range makeCall.FindAllStringSubmatch(r, -1) {
			switch m[1] {
			case "test", "lint", "build": // the root Makefile's (helper F)
			default:
				cmd := exec.Command("make", "-n", "-f", "deploy/targets.mk", m[1])
				cmd.Dir = ".."
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("workflow %s: make %s: %v\n%s", name, m[1], err, out)
				}
			}
		}
	}
}
