// Reference renderer for the differential tests: reads one JSON case per line on stdin
// ({"name", "text", "data" (JSON text), "missingkey"}) and writes one JSON result per line
// ({"out", "err"}) rendered by Go's text/template with sprig's TxtFuncMap.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
)

type tcase struct {
	Name       string `json:"name"`
	Text       string `json:"text"`
	Data       string `json:"data"`
	MissingKey string `json:"missingkey"`
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
	name := c.Name
	if name == "" {
		name = "t"
	}
	t := template.New(name).Funcs(fm)
	if c.MissingKey != "" {
		t = t.Option("missingkey=" + c.MissingKey)
	}
	if _, err := t.Parse(c.Text); err != nil {
		return "", err
	}
	var data interface{}
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
