// Reference renderer for the differential tests: reads one JSON case per line on stdin
// ({"name", "text", "data" (JSON text), "missingkey"}) and writes one JSON result per line
// ({"out", "err"}) rendered by Go's text/template with sprig's TxtFuncMap.
//
// Helm mode ("helm": true) renders as Helm 2's engine (werf 1.1's) renders a chart
// template: Helm's include and required, missingkey=zero with "<no value>" removed, and
// the root context a chartutil.Values holding .Values (the case's "values", JSON) and
// .Release; "partials" are the chart's other templates (helpers).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"

	// A local import (GOPATH mode, outside GOPATH): the type must live in a package
	// named chartutil for "%T" to say "chartutil.Values".
	"./chartutil"
)

type tcase struct {
	Name       string `json:"name"`
	Text       string `json:"text"`
	Data       string `json:"data"`
	MissingKey string `json:"missingkey"`
	// werf mode: werf's functions and root data (.Env, .Files), as werf renders werf.yaml.
	Werf     bool              `json:"werf"`
	Env      string            `json:"env"`
	Vars     map[string]string `json:"vars"`
	Files    map[string]string `json:"files"`
	Partials map[string]string `json:"partials"`
	// helm mode: Helm's functions and root context.
	Helm      bool   `json:"helm"`
	Values    string `json:"values"`
	Namespace string `json:"namespace"`
}

// files is werf's .Files, reading from a directory.
type files struct{ dir string }

func (f files) Get(relPath string) string {
	b, err := ioutil.ReadFile(filepath.Join(f.dir, relPath))
	if err != nil {
		panic(err.Error())
	}
	return string(b)
}

func (f files) Exists(relPath string) bool {
	_, err := os.Stat(filepath.Join(f.dir, relPath))
	return err == nil
}

func (f files) IsDir(relPath string) bool {
	st, err := os.Stat(filepath.Join(f.dir, relPath))
	return err == nil && st.IsDir()
}

func executeTemplate(tmpl *template.Template, name string, data interface{}) (string, error) {
	buf := bytes.NewBuffer(nil)
	if err := tmpl.ExecuteTemplate(buf, name, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// werfFuncs: werf's funcMap additions (werf 1.2 pkg/config/parser.go, toYaml from werf 2),
// with loose giterminism (an unset variable without a default is empty).
func werfFuncs(tmpl *template.Template, fm template.FuncMap, vars map[string]string) {
	fm["fromYaml"] = func(str string) (map[string]interface{}, error) {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(str), &m); err != nil {
			return nil, err
		}
		return m, nil
	}
	fm["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	fm["include"] = func(name string, data interface{}) (string, error) {
		return executeTemplate(tmpl, name, data)
	}
	fm["tpl"] = func(templateContent string, data interface{}) (string, error) {
		name := fmt.Sprintf("tpl-%d", len(templateContent))
		if _, err := tmpl.New(name).Parse(templateContent); err != nil {
			return "", err
		}
		return executeTemplate(tmpl, name, data)
	}
	fm["env"] = func(value interface{}, args ...string) (string, error) {
		if len(args) > 1 {
			return "", fmt.Errorf("more than 1 optional argument prohibited")
		}
		name := fmt.Sprint(value)
		var fallback *string
		if len(args) == 1 {
			fallback = &args[0]
		}
		v, found := vars[name]
		if !found {
			if fallback != nil {
				return *fallback, nil
			}
			return "", nil
		}
		if v == "" && fallback != nil {
			return *fallback, nil
		}
		return v, nil
	}
	fm["required"] = func(msg string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(msg)
		} else if _, ok := val.(string); ok {
			if val == "" {
				return val, errors.New(msg)
			}
		}
		return val, nil
	}
}

// helmFuncs: Helm 2's include and required (k8s.io/helm/pkg/engine/engine.go, v2.16),
// lint mode off.
func helmFuncs(tmpl *template.Template, fm template.FuncMap) {
	fm["include"] = func(name string, data interface{}) (string, error) {
		buf := bytes.NewBuffer(nil)
		if err := tmpl.ExecuteTemplate(buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	fm["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, fmt.Errorf(warn)
		} else if _, ok := val.(string); ok {
			if val == "" {
				return val, fmt.Errorf(warn)
			}
		}
		return val, nil
	}
}

// renderHelm renders c.Text as a chart template beside c.Partials.
func renderHelm(c tcase, fm template.FuncMap) (string, error) {
	t := template.New("gotpl")
	helmFuncs(t, fm)
	t.Funcs(fm)
	t.Option("missingkey=zero")
	for p, text := range c.Partials {
		if _, err := t.New(p).Parse(text); err != nil {
			return "", err
		}
	}
	name := c.Name
	if name == "" {
		name = "t"
	}
	if _, err := t.New(name).Parse(c.Text); err != nil {
		return "", err
	}
	vals := map[string]interface{}{}
	if c.Values != "" {
		if err := json.Unmarshal([]byte(c.Values), &vals); err != nil {
			return "", fmt.Errorf("bad test values: %v", err)
		}
	}
	top := chartutil.Values{
		"Values":  chartutil.Values(vals),
		"Release": map[string]interface{}{"Name": "release", "Namespace": c.Namespace},
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, top); err != nil {
		return "", err
	}
	// Helm 2 removes what missingkey=zero printed for a missing key.
	return strings.Replace(b.String(), "<no value>", "", -1), nil
}

type result struct {
	Out string `json:"out"`
	Err string `json:"err"`
}

func render(c tcase) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("PANIC: %v", r)
		}
	}()
	fm := sprig.TxtFuncMap()
	delete(fm, "env")
	delete(fm, "expandenv")
	delete(fm, "getHostByName")
	if c.Helm {
		return renderHelm(c, fm)
	}
	name := c.Name
	if name == "" {
		name = "t"
	}
	t := template.New(name)
	var data interface{}
	if c.Werf {
		werfFuncs(t, fm, c.Vars)
		t.Funcs(fm)
		dir, err := ioutil.TempDir("", "goref")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		for p, text := range c.Files {
			full := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return "", err
			}
			if err := ioutil.WriteFile(full, []byte(text), 0o644); err != nil {
				return "", err
			}
		}
		for p, text := range c.Partials {
			if _, err := t.New(p).Parse(text); err != nil {
				return "", err
			}
		}
		data = map[string]interface{}{"Env": c.Env, "Files": files{dir: dir}}
	} else {
		t.Funcs(fm)
	}
	if c.MissingKey != "" {
		t = t.Option("missingkey=" + c.MissingKey)
	}
	if _, err := t.Parse(c.Text); err != nil {
		return "", err
	}
	if c.Data != "" {
		if err := json.Unmarshal([]byte(c.Data), &data); err != nil {
			return "", fmt.Errorf("bad test data: %v", err)
		}
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return b.String(), err
	}
	return b.String(), nil
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	enc := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var c tcase
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			fmt.Fprintln(os.Stderr, "bad case:", err)
			os.Exit(2)
		}
		out, err := render(c)
		r := result{Out: out}
		if err != nil {
			r.Err = err.Error()
		}
		if err := enc.Encode(r); err != nil {
			os.Exit(3)
		}
	}
}
