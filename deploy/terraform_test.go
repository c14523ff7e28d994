package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// tfDir is one Terraform directory (a root or a module) parsed.
type tfDir struct {
	path      string
	blocks    []*hclsyntax.Block // top-level blocks of every .tf file
	variables map[string]*hclsyntax.Block
}

func (d *tfDir) byType(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range d.blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// loadTerraform parses every .tf file under terraform/, by directory.
func loadTerraform(t *testing.T) map[string]*tfDir {
	t.Helper()
	p := hclparse.NewParser()
	dirs := map[string]*tfDir{}
	err := filepath.WalkDir("terraform", func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || filepath.Ext(path) != ".tf" {
			return err
		}
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Errorf("%s: %s", path, diags.Error())
			return nil
		}
		dir := filepath.Dir(path)
		d := dirs[dir]
		if d == nil {
			d = &tfDir{path: dir, variables: map[string]*hclsyntax.Block{}}
			dirs[dir] = d
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			d.blocks = append(d.blocks, b)
			if b.Type == "variable" {
				d.variables[b.Labels[0]] = b
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 7 {
		t.Fatalf("found %d Terraform directories, want the bootstrap and main roots and 5 modules", len(dirs))
	}
	return dirs
}

func where(b *hclsyntax.Block) string {
	r := b.DefRange()
	return r.String()
}

// literalStrings returns the literal strings of a string or list expression;
// dynamic says whether some element is not a literal (a reference).
func literalStrings(e hclsyntax.Expression) (vals []string, dynamic bool) {
	var items []hclsyntax.Expression
	if tup, ok := e.(*hclsyntax.TupleConsExpr); ok {
		items = tup.Exprs
	} else {
		items = []hclsyntax.Expression{e}
	}
	for _, it := range items {
		v, diags := it.Value(nil)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
			dynamic = true
			continue
		}
		vals = append(vals, v.AsString())
	}
	return vals, dynamic
}

// statements returns the statement blocks of an aws_iam_policy_document,
// including the content of dynamic "statement" blocks.
func statements(doc *hclsyntax.Block) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range doc.Body.Blocks {
		switch {
		case b.Type == "statement":
			out = append(out, b)
		case b.Type == "dynamic" && b.Labels[0] == "statement":
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// noResourceLevelActions are actions AWS authorizes only on "*": the ENIs a
// Lambda in a VPC creates have no ARN before they exist.
var noResourceLevelActions = []string{
	"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
	"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
}

// allowedManagedPolicies are the AWS managed policies roles may attach.
var allowedManagedPolicies = []string{"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}

func TestTerraformIAMLeastPrivilege(t *testing.T) {
	docs := 0
	for _, d := range loadTerraform(t) {
		for _, b := range d.byType("data") {
			if b.Labels[0] != "aws_iam_policy_document" {
				continue
			}
			docs++
			for _, st := range statements(b) {
				if e, ok := st.Body.Attributes["effect"]; ok && exprText(e.Expr) == `"Deny"` {
					// A deny only narrows: a wildcard there is stricter.
					continue
				}
				var actions []string
				if a, ok := st.Body.Attributes["actions"]; ok {
					var dyn bool
					actions, dyn = literalStrings(a.Expr)
					if dyn {
						t.Errorf("%s: actions must be literal strings", where(st))
					}
				} else {
					t.Errorf("%s: statement without actions (not_actions is not allowed)", where(st))
				}
				for _, a := range actions {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %q", where(st), a)
					}
				}
				if a, ok := st.Body.Attributes["resources"]; ok {
					res, _ := literalStrings(a.Expr)
					for _, r := range res {
						if r != "*" {
							continue
						}
						for _, act := range actions {
							if !slices.Contains(noResourceLevelActions, act) {
								t.Errorf("%s: action %s on resource \"*\" (its ARNs are known: name them)", where(st), act)
							}
						}
					}
				}
			}
		}
		for _, b := range d.byType("resource") {
			switch b.Labels[0] {
			case "aws_iam_role_policy", "aws_s3_bucket_policy", "aws_iam_policy":
				// Policies come from aws_iam_policy_document data sources,
				// which the checks above read; no inline JSON.
				a := b.Body.Attributes["policy"]
				if a == nil || !strings.Contains(exprText(a.Expr), "data.aws_iam_policy_document.") {
					t.Errorf("%s: policy must be a data.aws_iam_policy_document", where(b))
				}
			case "aws_iam_role_policy_attachment":
				a := b.Body.Attributes["policy_arn"]
				v, dyn := literalStrings(a.Expr)
				if dyn || len(v) != 1 || !slices.Contains(allowedManagedPolicies, v[0]) {
					t.Errorf("%s: managed policy %s is not in the reviewed list %v", where(b), exprText(a.Expr), allowedManagedPolicies)
				}
			}
		}
	}
	if docs < 5 {
		t.Fatalf("found %d IAM policy documents, want the Lambda's, the instance's, the buckets' and the assume-role ones", docs)
	}
}

// exprText is the source text of an expression.
func exprText(e hclsyntax.Expression) string {
	r := e.Range()
	b, err := os.ReadFile(r.Filename)
	if err != nil {
		return ""
	}
	return string(b[r.Start.Byte:r.End.Byte])
}

// referencesBucket reports whether a bucket-configuration resource applies
// to aws_s3_bucket.<name>: through its bucket attribute or its for_each.
func referencesBucket(b *hclsyntax.Block, name string) bool {
	ref := "aws_s3_bucket." + name
	for _, attr := range []string{"bucket", "for_each"} {
		if a, ok := b.Body.Attributes[attr]; ok {
			txt := exprText(a.Expr)
			if strings.HasPrefix(txt, ref+".") || strings.HasPrefix(txt, ref+"[") || txt == ref {
				return true
			}
			// each.value.id inside a resource whose for_each is the bucket
			if strings.HasPrefix(txt, "each.value") {
				if fe, ok := b.Body.Attributes["for_each"]; ok && exprText(fe.Expr) == ref {
					return true
				}
			}
		}
	}
	return false
}

func TestTerraformBucketsEncryptedAndPrivate(t *testing.T) {
	buckets := 0
	for _, d := range loadTerraform(t) {
		res := d.byType("resource")
		for _, b := range res {
			if b.Labels[0] != "aws_s3_bucket" {
				continue
			}
			buckets++
			name := b.Labels[1]
			found := map[string]*hclsyntax.Block{}
			for _, c := range res {
				if referencesBucket(c, name) {
					found[c.Labels[0]] = c
				}
			}
			for _, need := range []string{
				"aws_s3_bucket_server_side_encryption_configuration",
				"aws_s3_bucket_public_access_block",
				"aws_s3_bucket_versioning",
				"aws_s3_bucket_ownership_controls",
				"aws_s3_bucket_policy",
			} {
				if found[need] == nil {
					t.Errorf("%s: bucket %s has no %s", where(b), name, need)
				}
			}
			if pab := found["aws_s3_bucket_public_access_block"]; pab != nil {
				for _, k := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
					a, ok := pab.Body.Attributes[k]
					if !ok || exprText(a.Expr) != "true" {
						t.Errorf("%s: %s must be true", where(pab), k)
					}
				}
			}
			if enc := found["aws_s3_bucket_server_side_encryption_configuration"]; enc != nil &&
				!strings.Contains(string(mustRead(t, enc.DefRange().Filename)), "sse_algorithm") {
				t.Errorf("%s: no sse_algorithm", where(enc))
			}
		}
	}
	if buckets < 2 {
		t.Fatalf("found %d bucket resources, want the state bucket and the storage module's", buckets)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// taggable are the resource types used here that take tags: the provider's
// default_tags reach them. untaggable take none (sub-resources).
var (
	taggable = []string{
		"aws_s3_bucket", "aws_dynamodb_table", "aws_kinesis_stream", "aws_lambda_function",
		"aws_lambda_event_source_mapping", "aws_iam_role", "aws_iam_instance_profile",
		"aws_cloudwatch_log_group", "aws_cloudwatch_metric_alarm", "aws_instance",
		"aws_security_group", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule",
		"aws_db_instance", "aws_db_subnet_group", "aws_ssm_parameter", "aws_sns_topic", "aws_vpc_endpoint",
	}
	untaggable = []string{
		"aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration",
		"aws_s3_bucket_public_access_block", "aws_s3_bucket_ownership_controls",
		"aws_s3_bucket_lifecycle_configuration", "aws_s3_bucket_policy", "aws_iam_role_policy",
		"aws_iam_role_policy_attachment", "aws_lambda_alias", "aws_sns_topic_subscription",
		"random_password",
	}
)

func TestTerraformTagged(t *testing.T) {
	dirs := loadTerraform(t)
	// Roots: directories with a provider "aws" block; each must set
	// default_tags with Project (and Environment in the main root).
	calledFrom := map[string]string{}
	for _, d := range dirs {
		for _, p := range d.byType("provider") {
			if p.Labels[0] != "aws" {
				continue
			}
			var dt *hclsyntax.Block
			for _, b := range p.Body.Blocks {
				if b.Type == "default_tags" {
					dt = b
				}
			}
			if dt == nil {
				t.Errorf("%s: provider aws without default_tags", where(p))
				continue
			}
			txt := exprText(dt.Body.Attributes["tags"].Expr)
			for _, k := range []string{"Project", "ManagedBy"} {
				if !strings.Contains(txt, k) {
					t.Errorf("%s: default_tags lack %s", where(dt), k)
				}
			}
			if len(d.byType("module")) > 0 && !strings.Contains(txt, "Environment") {
				t.Errorf("%s: default_tags lack Environment", where(dt))
			}
			for _, m := range d.byType("module") {
				calledFrom[filepath.Clean(filepath.Join(d.path, moduleSource(t, m)))] = d.path
			}
		}
	}
	for path, d := range dirs {
		hasProvider := len(d.byType("provider")) > 0
		if !hasProvider && calledFrom[path] == "" {
			t.Errorf("%s: neither a root with default_tags nor a module called from one", path)
		}
		for _, b := range d.byType("resource") {
			typ := b.Labels[0]
			switch {
			case slices.Contains(taggable, typ):
			case slices.Contains(untaggable, typ):
			default:
				t.Errorf("%s: resource type %s is in neither the taggable nor the untaggable list: classify it", where(b), typ)
			}
		}
	}
}

func moduleSource(t *testing.T, m *hclsyntax.Block) string {
	src, dyn := literalStrings(m.Body.Attributes["source"].Expr)
	if dyn || len(src) != 1 || !strings.HasPrefix(src[0], "./") {
		t.Fatalf("%s: module source must be a local ./path", where(m))
	}
	return src[0]
}

func TestTerraformVariablesAndOutputsDescribed(t *testing.T) {
	n := 0
	for _, d := range loadTerraform(t) {
		for _, typ := range []string{"variable", "output"} {
			for _, b := range d.byType(typ) {
				n++
				a, ok := b.Body.Attributes["description"]
				if !ok {
					t.Errorf("%s: %s %s has no description", where(b), typ, b.Labels[0])
					continue
				}
				if v, _ := literalStrings(a.Expr); len(v) != 1 || len(strings.TrimSpace(v[0])) < 10 {
					t.Errorf("%s: %s %s: description too short", where(b), typ, b.Labels[0])
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("found %d variables and outputs", n)
	}
	// The seed's three variables have defaults in the main root.
	main := loadTerraform(t)["terraform"]
	for _, v := range []string{"project_name", "aws_region", "environment"} {
		b := main.variables[v]
		if b == nil {
			t.Errorf("main root: no variable %s", v)
		} else if _, ok := b.Body.Attributes["default"]; !ok {
			t.Errorf("%s: variable %s has no default", where(b), v)
		}
	}
}

// metaArgs are module block arguments that are not module inputs.
var metaArgs = []string{"source", "count", "for_each", "depends_on", "providers", "version"}

func TestTerraformModulesWired(t *testing.T) {
	dirs := loadTerraform(t)
	calls := 0
	for _, d := range dirs {
		for _, m := range d.byType("module") {
			calls++
			mod := dirs[filepath.Clean(filepath.Join(d.path, moduleSource(t, m)))]
			if mod == nil {
				t.Errorf("%s: module source %s not found", where(m), moduleSource(t, m))
				continue
			}
			for name, v := range mod.variables {
				if _, hasDefault := v.Body.Attributes["default"]; hasDefault {
					continue
				}
				if _, ok := m.Body.Attributes[name]; !ok {
					t.Errorf("%s: module %s: required input %s is not set", where(m), m.Labels[0], name)
				}
			}
			for name := range m.Body.Attributes {
				if !slices.Contains(metaArgs, name) && mod.variables[name] == nil {
					t.Errorf("%s: module %s has no variable %s", where(m), m.Labels[0], name)
				}
			}
		}
	}
	if calls < 5 {
		t.Fatalf("found %d module calls, want storage, stream, lambda, service, database", calls)
	}
	// Every module directory is used.
	for path := range dirs {
		if strings.Contains(path, "modules") {
			used := false
			for _, d := range dirs {
				for _, m := range d.byType("module") {
					if filepath.Clean(filepath.Join(d.path, moduleSource(t, m))) == path {
						used = true
					}
				}
			}
			if !used {
				t.Errorf("module %s is never called", path)
			}
		}
	}
}

// TestTerraformTfvars checks that the environment files set only variables
// the main root declares.
func TestTerraformTfvars(t *testing.T) {
	main := loadTerraform(t)["terraform"]
	files, _ := filepath.Glob("terraform/env/*.tfvars")
	if len(files) != 2 {
		t.Fatalf("tfvars files %v, want stg and prod", files)
	}
	p := hclparse.NewParser()
	for _, f := range files {
		hf, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", f, diags.Error())
		}
		attrs, _ := hf.Body.JustAttributes()
		env := strings.TrimSuffix(filepath.Base(f), ".tfvars")
		var names []string
		for name, a := range attrs {
			names = append(names, name)
			if main.variables[name] == nil {
				t.Errorf("%s: %s is not a variable of the main root", f, name)
			}
			if name == "environment" {
				if v, _ := a.Expr.Value(nil); v.AsString() != env {
					t.Errorf("%s: environment = %q, want %q", f, v.AsString(), env)
				}
			}
		}
		sort.Strings(names)
		if !slices.Contains(names, "environment") {
			t.Errorf("%s: sets no environment", f)
		}
	}
}

// TestTerraformFmt runs terraform fmt -check (or tofu) when one is
// installed: CI installs terraform.
func TestTerraformFmt(t *testing.T) {
	bin := ""
	for _, b := range []string{"tofu", "terraform"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("neither terraform nor tofu on PATH (CI's terraform workflow runs fmt -check)")
	}
	out, err := exec.Command(bin, "fmt", "-check", "-recursive", "-diff", "terraform").CombinedOutput()
	if err != nil {
		t.Fatalf("%s fmt -check: %v\n%s", bin, err, out)
	}
}

// TestServiceUserData renders the instance's cloud-init script as
// templatefile would, then checks it is valid bash, that the CloudWatch
// agent configuration it writes is valid JSON and that it starts one unit
// per role.
func TestServiceUserData(t *testing.T) {
	const path = "terraform/modules/service/user_data.sh.tftpl"
	src := mustRead(t, path)
	tmpl, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	vars := map[string]cty.Value{
		"aws_region":     cty.StringVal("us-east-1"),
		"binary_s3_uri":  cty.StringVal("s3://tripcast-stg-artifacts-123/releases/v1.0.0/tripcast-linux-arm64"),
		"db_param":       cty.StringVal("/tripcast-stg/database_url"),
		"blob_url":       cty.StringVal("s3://tripcast-stg-data-123?region=us-east-1"),
		"stream_url":     cty.StringVal("kinesis://aws?region=us-east-1&shards=1"),
		"model_name":     cty.StringVal("ride_duration_prediction_model"),
		"roles":          cty.StringVal("tripcast@serve tripcast@worker"),
		"unit":           cty.StringVal(string(mustRead(t, "systemd/tripcast@.service"))),
		"log_group":      cty.StringVal("/tripcast-stg/service"),
		"listen_port":    cty.NumberIntVal(8080),
		"roles_for_logs": cty.ListVal([]cty.Value{cty.StringVal("serve"), cty.StringVal("worker")}),
	}
	// The template must use exactly the variables the module passes.
	mainTF := string(mustRead(t, "terraform/modules/service/main.tf"))
	for _, tr := range tmpl.Variables() {
		name := tr.RootName()
		if _, ok := vars[name]; !ok {
			t.Errorf("template variable %s is unknown to this test", name)
		}
		if !regexp.MustCompile(`\n\s+` + name + `\s+=`).MatchString(mainTF) {
			t.Errorf("template variable %s is not passed by the service module's templatefile call", name)
		}
	}
	ctx := &hcl.EvalContext{Variables: vars, Functions: map[string]function.Function{"join": stdlib.JoinFunc}}
	v, diags := tmpl.Value(ctx)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	script := v.AsString()
	bash := exec.Command("bash", "-n")
	bash.Stdin = strings.NewReader(script)
	if out, err := bash.CombinedOutput(); err != nil {
		t.Fatalf("rendered user data is not valid bash: %v\n%s\n%s", err, out, script)
	}
	i, j := strings.Index(script, "<<'CW'\n"), strings.Index(script, "\nCW\n")
	if i < 0 || j < i || !json.Valid([]byte(script[i+len("<<'CW'\n"):j])) {
		t.Errorf("the CloudWatch agent configuration is not valid JSON:\n%s", script)
	}
	for _, want := range []string{"systemctl enable --now tripcast@serve tripcast@worker", "ExecStart=/usr/local/bin/tripcast %i", "TRIPCAST_DB=$db_url"} {
		if !strings.Contains(script, want) {
			t.Errorf("rendered user data lacks %q", want)
		}
	}
}
