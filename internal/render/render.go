// Package render turns a plan into what people and programs read: Markdown for a pull request
// (a check run's summary, a comment, a terminal) and JSON for the rollout. Both are pure and
// deterministic: the same plan renders to the same bytes.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/cluster-as-code/cluster-as-code/internal/plan"
)

// JSON renders the plan as indented JSON with a trailing newline. The plan's schema field
// names the version of this form.
func JSON(p *plan.Plan) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encoding plan as JSON: %w", err)
	}
	return b.Bytes(), nil
}
