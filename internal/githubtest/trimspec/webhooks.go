package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// wantedWebhooks are the webhook examples the fake GitHub builds its events
// from, as "event" and "action" ("" for events without actions, like ping).
var wantedWebhooks = []struct{ event, action string }{
	{"pull_request", "opened"},
	{"pull_request", "synchronize"},
	{"pull_request", "reopened"},
	{"pull_request", "ready_for_review"},
	{"pull_request", "closed"},
	{"issue_comment", "created"},
	{"issue_comment", "edited"},
	{"check_run", "rerequested"},
	{"check_run", "requested_action"},
	{"check_suite", "rerequested"},
	{"ping", ""},
	{"push", ""},
	{"pull_request_review", "submitted"},
}

// copyWebhooks writes one example payload per wanted event and action into
// dir, as EVENT.ACTION.json (EVENT.json without an action). Of the examples
// for an action it takes the first sent to an app installation (they carry an
// "installation"), preferring one without an "organization".
func copyWebhooks(in, dir string) error {
	var events []struct {
		Name     string
		Examples []map[string]json.RawMessage
	}
	if err := readJSON(in, &events); err != nil {
		return err
	}
	for _, w := range wantedWebhooks {
		var best map[string]json.RawMessage
		score := -1
		for _, e := range events {
			if e.Name != w.event {
				continue
			}
			for _, ex := range e.Examples {
				var action string
				if raw, ok := ex["action"]; ok {
					if err := json.Unmarshal(raw, &action); err != nil {
						return fmt.Errorf("%s example: action: %w", w.event, err)
					}
				}
				if action != w.action {
					continue
				}
				s := 0
				if _, ok := ex["installation"]; ok {
					s += 2
				}
				if _, ok := ex["organization"]; !ok {
					s++
				}
				if s > score {
					best, score = ex, s
				}
			}
		}
		if best == nil {
			return fmt.Errorf("no example of %s %s", w.event, w.action)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(best); err != nil {
			return fmt.Errorf("encoding %s %s: %w", w.event, w.action, err)
		}
		name := w.event + ".json"
		if w.action != "" {
			name = w.event + "." + w.action + ".json"
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing webhook example: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "trimspec: wrote %d webhook examples to %s\n", len(wantedWebhooks), dir)
	return nil
}
