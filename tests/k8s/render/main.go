// Command render renders a Helm 3 chart the way `helm template` does, without Helm: Go's
// text/template with the sprig functions and Helm's own template functions, Helm's values
// coalescing (-f files, then --set), and Helm's output (documents split, sorted by kind in
// Helm's install order, each preceded by "---" and "# Source: <chart>/templates/<file>").
//
// It exists so the chart in k8s/helm/roomcast can be rendered and tested on a machine with no
// helm binary. What it supports, and what it does not, is listed in tests/k8s/README.md; a
// chart that stays within that renders the same here and under Helm 3.
//
// Usage:
//
//	render [NAME] CHART [-n NAMESPACE] [-f VALUES.yaml]... [--set k=v]... [--set-string k=v]...
//	       [--kube-version v1.31.0] [-a API_VERSION]... [-s templates/FILE]... [--values-json]
//	       [--notes]
//
// --values-json prints the merged values (what templates see as .Values) instead, so tests can
// validate them against values.schema.json as Helm does; --notes prints the rendered NOTES.txt.
//
// Build (Debian packages golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o render .
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yamlv2 "gopkg.in/yaml.v2"
	yaml "gopkg.in/yaml.v3"
)

// ---------------------------------------------------------------------------------------------
// Command line

type options struct {
	releaseName string
	chartDir    string
	namespace   string
	valueFiles  []string
	sets        []string
	setStrings  []string
	kubeVersion string
	apiVersions []string
	showOnly    []string
	valuesJSON  bool
	notes       bool
	isUpgrade   bool
	strict      bool
	clusterFile string
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: render [NAME] CHART [-n NAMESPACE] [-f VALUES]... [--set k=v]... [--set-string k=v]...
              [--kube-version vX.Y.Z] [-a API_VERSION]... [-s templates/FILE]... [--values-json]
              [--is-upgrade] [--strict] [--notes] [--cluster OBJECTS.yaml]`)
}

func parseArgs(args []string) (*options, error) {
	o := &options{releaseName: "release-name", namespace: "default", kubeVersion: "v1.31.0"}
	var positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, value, hasValue := arg, "", false
		if strings.HasPrefix(arg, "--") {
			if eq := strings.IndexByte(arg, '='); eq >= 0 {
				name, value, hasValue = arg[:eq], arg[eq+1:], true
			}
		}
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		switch name {
		case "-n", "--namespace":
			v, err = next()
			o.namespace = v
		case "-f", "--values":
			v, err = next()
			o.valueFiles = append(o.valueFiles, v)
		case "--set":
			v, err = next()
			o.sets = append(o.sets, v)
		case "--set-string":
			v, err = next()
			o.setStrings = append(o.setStrings, v)
		case "--kube-version":
			v, err = next()
			o.kubeVersion = v
		case "-a", "--api-versions":
			v, err = next()
			o.apiVersions = append(o.apiVersions, strings.Split(v, ",")...)
		case "-s", "--show-only":
			v, err = next()
			o.showOnly = append(o.showOnly, v)
		case "--name-template", "--release-name":
			v, err = next()
			o.releaseName = v
		case "--values-json":
			o.valuesJSON = true
		case "--notes":
			o.notes = true
		case "--is-upgrade":
			o.isUpgrade = true
		case "--strict":
			o.strict = true
		case "--cluster":
			v, err = next()
			o.clusterFile = v
		case "-h", "--help":
			usage()
			os.Exit(0)
		default:
			if strings.HasPrefix(arg, "-") && arg != "-" {
				return nil, fmt.Errorf("unknown flag %s", arg)
			}
			positional = append(positional, arg)
		}
		if err != nil {
			return nil, err
		}
	}
	switch len(positional) {
	case 1:
		o.chartDir = positional[0]
	case 2:
		o.releaseName, o.chartDir = positional[0], positional[1]
	default:
		return nil, errors.New("expected [NAME] CHART")
	}
	return o, nil
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		usage()
		os.Exit(2)
	}
	out, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

// ---------------------------------------------------------------------------------------------
// Values: YAML decoded as Helm decodes it (sigs.k8s.io/yaml: YAML → JSON → Go, so every number
// is a float64), merged as Helm merges them.

// toJSONTypes turns a YAML-decoded value into what encoding/json would have produced.
func toJSONTypes(v interface{}) (interface{}, error) {
	if v == nil {
		return nil, nil
	}
	raw, err := json.Marshal(normalizeYAML(v))
	if err != nil {
		return nil, err
	}
	var out interface{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// normalizeYAML turns map[interface{}]interface{} (which json cannot marshal) into string maps.
func normalizeYAML(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			m[fmt.Sprint(k)] = normalizeYAML(val)
		}
		return m
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			m[k] = normalizeYAML(val)
		}
		return m
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, val := range t {
			l[i] = normalizeYAML(val)
		}
		return l
	default:
		return v
	}
}

func readValuesBytes(data []byte) (map[string]interface{}, error) {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	converted, err := toJSONTypes(raw)
	if err != nil {
		return nil, err
	}
	m, ok := converted.(map[string]interface{})
	if !ok {
		return nil, errors.New("values must be a map")
	}
	return m, nil
}

// mergeMaps is Helm's mergeMaps (the -f files and --set layers): b wins, maps merge.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k]; ok {
				if bvm, ok := bv.(map[string]interface{}); ok {
					out[k] = mergeMaps(bvm, vm)
					continue
				}
			}
		}
		out[k] = v
	}
	return out
}

// coalesce is Helm's CoalesceValues for a chart without dependencies: the user's values win,
// maps merge recursively, and a user null deletes the chart's default.
func coalesce(user, chart map[string]interface{}) map[string]interface{} {
	out := deepCopyMap(user)
	for k, cv := range chart {
		uv, present := out[k]
		if !present {
			out[k] = deepCopy(cv)
			continue
		}
		if uv == nil {
			delete(out, k)
			continue
		}
		um, uok := uv.(map[string]interface{})
		cm, cok := cv.(map[string]interface{})
		if uok && cok {
			out[k] = coalesce(um, cm)
		} else if cok && !uok {
			fmt.Fprintf(os.Stderr, "coalesce.go: warning: skipped value for %s: Not a table.\n", k)
		}
	}
	// Nulls the user set for keys the chart does not have are removed too.
	for k, v := range out {
		if v == nil {
			if _, inChart := chart[k]; !inChart {
				delete(out, k)
			}
		}
	}
	return out
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		return deepCopyMap(t)
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, x := range t {
			l[i] = deepCopy(x)
		}
		return l
	default:
		return v
	}
}

func deepCopyMap(m map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// --set (Helm's strvals): a.b=c,d[0]=e,f={x,y}; values typed as Helm types them (int64, bool,
// null) unless --set-string. Backslash escapes ',', '.', '=', '[' in keys and values.

func parseSet(s string, typed bool, into map[string]interface{}) error {
	for _, pair := range splitTopLevel(s) {
		if pair == "" {
			continue
		}
		eq := indexUnescaped(pair, '=')
		if eq < 0 {
			return fmt.Errorf("key %q has no value", pair)
		}
		key, raw := pair[:eq], pair[eq+1:]
		var val interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			items := []interface{}{}
			inner := raw[1 : len(raw)-1]
			if inner != "" {
				for _, it := range splitUnescaped(inner, ',') {
					items = append(items, typedValue(unescape(it), typed))
				}
			}
			val = items
		} else {
			val = typedValue(unescape(raw), typed)
		}
		if err := setPath(into, splitUnescaped(key, '.'), val); err != nil {
			return fmt.Errorf("--set %s: %w", pair, err)
		}
	}
	return nil
}

func typedValue(s string, typed bool) interface{} {
	if !typed {
		return s
	}
	switch strings.ToLower(s) {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if s == "0" {
		return int64(0)
	}
	if len(s) > 0 && s[0] != '0' {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return s
}

func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == sep {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == c {
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var indexRe = regexp.MustCompile(`^(.*?)\[(\d+)\]$`)

func setPath(m map[string]interface{}, keys []string, val interface{}) error {
	seg := unescape(keys[0])
	last := len(keys) == 1
	if mt := indexRe.FindStringSubmatch(seg); mt != nil {
		name := mt[1]
		idx, _ := strconv.Atoi(mt[2])
		if idx > 65536 {
			return errors.New("index too large")
		}
		list, _ := m[name].([]interface{})
		for len(list) <= idx {
			list = append(list, nil)
		}
		if last {
			list[idx] = val
		} else {
			child, ok := list[idx].(map[string]interface{})
			if !ok {
				child = map[string]interface{}{}
			}
			if err := setPath(child, keys[1:], val); err != nil {
				return err
			}
			list[idx] = child
		}
		m[name] = list
		return nil
	}
	if last {
		m[seg] = val
		return nil
	}
	child, ok := m[seg].(map[string]interface{})
	if !ok {
		child = map[string]interface{}{}
	}
	if err := setPath(child, keys[1:], val); err != nil {
		return err
	}
	m[seg] = child
	return nil
}

// ---------------------------------------------------------------------------------------------
// The objects templates see: .Chart, .Release, .Capabilities, .Files, .Template

// Metadata mirrors helm.sh/helm/v3/pkg/chart.Metadata (the fields templates read).
type Metadata struct {
	Name         string            `json:"name"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []interface{}     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// KubeVersion mirrors chartutil.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (kv *KubeVersion) String() string     { return kv.Version }
func (kv *KubeVersion) GitVersion() string { return kv.Version }

// VersionSet mirrors chartutil.VersionSet.
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type HelmVersion struct {
	Version      string
	GitCommit    string
	GitTreeState string
	GoVersion    string
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion HelmVersion
}

// The API group/versions a current Kubernetes serves (Helm's default set is client-go's).
var defaultAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2",
	"batch/v1", "certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1", "networking.k8s.io/v1", "node.k8s.io/v1",
	"policy/v1", "rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

// Files mirrors chart.Files / engine.files: the chart's non-template files.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func (f Files) AsConfig() string {
	if len(f) == 0 {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return toYAML(m)
}

func (f Files) AsSecrets() string {
	if len(f) == 0 {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = base64.StdEncoding.EncodeToString(v)
	}
	return toYAML(m)
}

func (f Files) Lines(name string) []string {
	data, ok := f[name]
	if !ok {
		return []string{}
	}
	s := string(data)
	if strings.HasSuffix(s, "\n") {
		s = s[:len(s)-1]
	}
	return strings.Split(s, "\n")
}

// ---------------------------------------------------------------------------------------------
// Helm's template functions (pkg/engine/funcs.go)

// toYAML is Helm's toYaml: sigs.k8s.io/yaml.Marshal (JSON first, then YAML with go-yaml v2),
// without the final newline.
func toYAML(v interface{}) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yamlv2.Unmarshal(raw, &obj); err != nil {
		return ""
	}
	out, err := yamlv2.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m, err := readValuesBytes([]byte(s))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return []interface{}{err.Error()}
	}
	conv, err := toJSONTypes(raw)
	if err != nil {
		return []interface{}{err.Error()}
	}
	l, ok := conv.([]interface{})
	if !ok {
		return []interface{}{"not an array"}
	}
	return l
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func required(warn string, val interface{}) (interface{}, error) {
	if val == nil {
		return val, errors.New(warn)
	}
	if s, ok := val.(string); ok && s == "" {
		return val, errors.New(warn)
	}
	return val, nil
}

// lookup: with no cluster, as under `helm template`, every lookup finds nothing. With
// --cluster FILE it answers from the objects of FILE (multi-document YAML), as `helm install`
// does from a live cluster: one object by apiVersion, kind, namespace and name; with an empty
// name, every such object of the namespace (any namespace when it is empty) as {items: [...]}.
func lookupIn(objects []map[string]interface{}) func(string, string, string, string) (map[string]interface{}, error) {
	return func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		if objects == nil {
			// helm template answers every lookup, a list too, with an empty map.
			return map[string]interface{}{}, nil
		}
		items := []interface{}{}
		for _, obj := range objects {
			meta, _ := obj["metadata"].(map[string]interface{})
			if obj["apiVersion"] != apiVersion || obj["kind"] != kind || meta == nil {
				continue
			}
			if namespace != "" && meta["namespace"] != namespace {
				continue
			}
			if name == "" {
				items = append(items, obj)
			} else if meta["name"] == name {
				return obj, nil
			}
		}
		if name == "" {
			return map[string]interface{}{"items": items}, nil
		}
		return map[string]interface{}{}, nil
	}
}

// readCluster reads the objects of --cluster.
func readCluster(file string) ([]map[string]interface{}, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	objects := []map[string]interface{}{} // not nil: a cluster, if an empty one
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var raw interface{}
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if raw == nil {
			continue
		}
		conv, err := toJSONTypes(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		obj, ok := conv.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("%s: a document is not an object", file)
		}
		objects = append(objects, obj)
	}
	return objects, nil
}

type engine struct {
	tmpl      *template.Template
	strict    bool
	includes  map[string]int
	basePath  string
	chartName string
	cluster   []map[string]interface{}
}

const recursionMaxNums = 1000

func (e *engine) funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toToml":        func(interface{}) string { return "" },
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"required":      required,
		"lookup":        lookupIn(e.cluster),
		"include": func(name string, data interface{}) (string, error) {
			var buf strings.Builder
			if v, ok := e.includes[name]; ok {
				if v > recursionMaxNums {
					return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
				}
				e.includes[name]++
			} else {
				e.includes[name] = 1
			}
			err := e.tmpl.ExecuteTemplate(&buf, name, data)
			e.includes[name]--
			return buf.String(), err
		},
		"tpl": func(text string, vals interface{}) (string, error) {
			t, err := e.tmpl.Clone()
			if err != nil {
				return "", err
			}
			name := "tpl"
			if m, ok := vals.(map[string]interface{}); ok {
				if tm, ok := m["Template"].(map[string]interface{}); ok {
					if n, ok := tm["Name"].(string); ok {
						name = n
					}
				}
			}
			if e.strict {
				t.Option("missingkey=error")
			} else {
				t.Option("missingkey=zero")
			}
			nt, err := t.New(name).Parse(text)
			if err != nil {
				return "", fmt.Errorf("cannot parse template %q: %w", text, err)
			}
			var buf strings.Builder
			if err := nt.Execute(&buf, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// ---------------------------------------------------------------------------------------------
// Loading and rendering

type chart struct {
	meta      *Metadata
	values    map[string]interface{}
	templates map[string]string // "<chart>/templates/x.yaml" → text
	files     Files
}

func loadChart(dir string) (*chart, error) {
	c := &chart{templates: map[string]string{}, files: Files{}}
	metaBytes, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	var metaRaw interface{}
	if err := yaml.Unmarshal(metaBytes, &metaRaw); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	metaJSON, err := json.Marshal(normalizeYAML(metaRaw))
	if err != nil {
		return nil, err
	}
	c.meta = &Metadata{}
	if err := json.Unmarshal(metaJSON, c.meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if c.meta.APIVersion != "v2" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion must be v2 (Helm 3), not %q", c.meta.APIVersion)
	}
	if c.meta.Name == "" || c.meta.Version == "" {
		return nil, errors.New("Chart.yaml: name and version are required")
	}
	if len(c.meta.Dependencies) > 0 {
		return nil, errors.New("charts with dependencies are not supported")
	}
	c.values = map[string]interface{}{}
	if data, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if c.values, err = readValuesBytes(data); err != nil {
			return nil, fmt.Errorf("values.yaml: %w", err)
		}
	}
	ignore := readHelmignore(dir)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignore(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if rel == "charts" {
				return errors.New("charts/ (subcharts) is not supported")
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.templates[path.Join(c.meta.Name, rel)] = string(data)
		case rel == "Chart.yaml", rel == "values.yaml", rel == "values.schema.json", rel == "Chart.lock",
			rel == "requirements.yaml", rel == "requirements.lock":
		default:
			c.files[rel] = data
		}
		return nil
	})
	return c, err
}

// readHelmignore understands the common .helmignore lines: globs on the base name or the
// relative path, "dir/" for directories, "#" comments. Negations are not supported.
func readHelmignore(dir string) func(string, bool) bool {
	data, err := os.ReadFile(filepath.Join(dir, ".helmignore"))
	var patterns []string
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "!") {
				continue
			}
			patterns = append(patterns, line)
		}
	}
	return func(rel string, isDir bool) bool {
		if rel == ".helmignore" {
			return true
		}
		for _, p := range patterns {
			dirOnly := strings.HasSuffix(p, "/")
			p = strings.TrimSuffix(p, "/")
			if dirOnly && !isDir {
				continue
			}
			if ok, _ := path.Match(p, rel); ok {
				return true
			}
			if !strings.Contains(p, "/") {
				if ok, _ := path.Match(p, path.Base(rel)); ok {
					return true
				}
			}
		}
		return false
	}
}

func kubeVersionOf(v string) (KubeVersion, error) {
	re := regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?([-+].*)?$`)
	m := re.FindStringSubmatch(v)
	if m == nil {
		return KubeVersion{}, fmt.Errorf("invalid kube version %q", v)
	}
	ver := v
	if !strings.HasPrefix(ver, "v") {
		ver = "v" + ver
	}
	if m[3] == "" {
		ver = "v" + m[1] + "." + m[2] + ".0"
	}
	return KubeVersion{Version: ver, Major: m[1], Minor: m[2]}, nil
}

func userValues(o *options) (map[string]interface{}, error) {
	base := map[string]interface{}{}
	for _, f := range o.valueFiles {
		var data []byte
		var err error
		if f == "-" {
			data, err = readAll(os.Stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, err
		}
		m, err := readValuesBytes(data)
		if err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", f, err)
		}
		base = mergeMaps(base, m)
	}
	for _, s := range o.sets {
		if err := parseSet(s, true, base); err != nil {
			return nil, fmt.Errorf("failed parsing --set data: %w", err)
		}
	}
	for _, s := range o.setStrings {
		if err := parseSet(s, false, base); err != nil {
			return nil, fmt.Errorf("failed parsing --set-string data: %w", err)
		}
	}
	return base, nil
}

func readAll(f *os.File) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}

// Helm's releaseutil.InstallOrder.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
	"RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

type manifest struct {
	source  string
	content string
	kind    string
	order   int
}

var docSep = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

func run(o *options) (string, error) {
	c, err := loadChart(o.chartDir)
	if err != nil {
		return "", err
	}
	user, err := userValues(o)
	if err != nil {
		return "", err
	}
	values := coalesce(user, c.values)
	if o.valuesJSON {
		data, err := json.MarshalIndent(values, "", "  ")
		if err != nil {
			return "", err
		}
		return string(data) + "\n", nil
	}
	kv, err := kubeVersionOf(o.kubeVersion)
	if err != nil {
		return "", err
	}
	apis := append(VersionSet{}, defaultAPIVersions...)
	apis = append(apis, o.apiVersions...)
	caps := &Capabilities{
		KubeVersion: kv,
		APIVersions: apis,
		HelmVersion: HelmVersion{Version: "v3.16.0", GoVersion: "go1.19"},
	}
	release := map[string]interface{}{
		"Name":      o.releaseName,
		"Namespace": o.namespace,
		"IsUpgrade": o.isUpgrade,
		"IsInstall": !o.isUpgrade,
		"Revision":  1,
		"Service":   "Helm",
	}

	cluster, err := readCluster(o.clusterFile)
	if err != nil {
		return "", err
	}
	e := &engine{strict: o.strict, includes: map[string]int{}, chartName: c.meta.Name,
		basePath: path.Join(c.meta.Name, "templates"), cluster: cluster}
	e.tmpl = template.New("gotpl")
	if o.strict {
		e.tmpl.Option("missingkey=error")
	} else {
		e.tmpl.Option("missingkey=zero")
	}
	e.tmpl.Funcs(e.funcMap())
	names := make([]string, 0, len(c.templates))
	for name := range c.templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := e.tmpl.New(name).Parse(c.templates[name]); err != nil {
			return "", fmt.Errorf("parse error in %q: %w", name, err)
		}
	}

	rendered := map[string]string{}
	for _, name := range names {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		vals := map[string]interface{}{
			"Values":       values,
			"Release":      release,
			"Chart":        c.meta,
			"Capabilities": caps,
			"Files":        c.files,
			"Template":     map[string]interface{}{"Name": name, "BasePath": e.basePath},
		}
		var buf strings.Builder
		if err := e.tmpl.ExecuteTemplate(&buf, name, vals); err != nil {
			return "", cleanupExecError(err)
		}
		rendered[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}

	if o.notes {
		// What `helm install` prints after installing: templates/NOTES.txt rendered.
		return rendered[path.Join(c.meta.Name, "templates/NOTES.txt")], nil
	}

	kindIndex := map[string]int{}
	for i, k := range installOrder {
		kindIndex[k] = i
	}
	var manifests []manifest
	for _, name := range names {
		text, ok := rendered[name]
		if !ok || strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(text) == "" {
			continue
		}
		if len(o.showOnly) > 0 && !matchesShowOnly(name, c.meta.Name, o.showOnly) {
			continue
		}
		for _, doc := range docSep.Split(strings.TrimSpace(text), -1) {
			doc = strings.TrimSpace(doc)
			if doc == "" {
				continue
			}
			var head struct {
				APIVersion string                 `yaml:"apiVersion"`
				Kind       string                 `yaml:"kind"`
				Metadata   map[string]interface{} `yaml:"metadata"`
			}
			var full interface{}
			if err := yaml.Unmarshal([]byte(doc), &full); err != nil {
				return "", fmt.Errorf("YAML parse error on %s: %w", name, err)
			}
			if full != nil {
				if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
					return "", fmt.Errorf("YAML parse error on %s: %w", name, err)
				}
				// Stricter than Helm, which leaves this to the API server: a document with
				// content but no apiVersion or kind is a template bug.
				if head.Kind == "" || head.APIVersion == "" {
					return "", fmt.Errorf("%s: a document has no apiVersion or kind", name)
				}
			}
			// A document of comments only is printed, as Helm does, with kind "" (an
			// unknown kind: after the known ones, before the other unknown ones).
			idx, known := kindIndex[head.Kind]
			if !known {
				idx = len(installOrder)
			}
			manifests = append(manifests, manifest{source: name, content: doc, kind: head.Kind, order: idx})
		}
	}
	sort.SliceStable(manifests, func(i, j int) bool {
		a, b := manifests[i], manifests[j]
		if a.order == len(installOrder) && b.order == len(installOrder) {
			return a.kind < b.kind
		}
		return a.order < b.order
	})
	var out strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", m.source, m.content)
	}
	return out.String(), nil
}

func matchesShowOnly(name, chartName string, showOnly []string) bool {
	for _, s := range showOnly {
		s = filepath.ToSlash(s)
		if name == s || name == path.Join(chartName, s) {
			return true
		}
		if ok, _ := path.Match(path.Join(chartName, s), name); ok {
			return true
		}
	}
	return false
}

// cleanupExecError shortens text/template's errors the way Helm does (the innermost cause).
func cleanupExecError(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "error calling fail: "); i >= 0 {
		return errors.New("execution error: " + msg[i+len("error calling fail: "):])
	}
	if i := strings.LastIndex(msg, "error calling required: "); i >= 0 {
		return errors.New("execution error: " + msg[i+len("error calling required: "):])
	}
	return err
}
