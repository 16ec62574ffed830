package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxAnswer bounds what is read of one Vault answer; a KV secret is far smaller.
const maxAnswer = 1 << 20

// vault reads KV secrets over Vault's HTTP API.
type vault struct {
	addr, token, namespace string
	client                 *http.Client
}

// answer is what one GET returned.
type answer struct {
	status int
	body   []byte
	api    string // the API path asked, e.g. "secret/data/green/marathon"
}

// read returns field key of the KV secret at p: KV v2 first, then KV v1.
func (v *vault) read(ctx context.Context, p, key string) (string, error) {
	mount, rest, _ := strings.Cut(p, "/")
	v2, err := v.get(ctx, p, mount+"/data/"+rest)
	if err != nil {
		return "", err
	}
	switch v2.status {
	case http.StatusOK:
		data, err := kv2Data(v2, p)
		if err != nil {
			return "", err
		}
		return field(data, p, key)
	case http.StatusNotFound:
		if deleted := kv2Deleted(v2.body); deleted != "" {
			// A KV v2 secret whose latest version is gone: there is nothing to fall back to.
			return "", refErr(ErrNotFound, nil, "vault:%s: %s", p, deleted)
		}
	case http.StatusForbidden:
		// A token allowed only PATH (a KV v1 policy) is refused MOUNT/data/REST: ask v1 too.
	default:
		return "", statusErr(v2, p)
	}

	v1, err := v.get(ctx, p, p)
	if err != nil {
		return "", err
	}
	switch v1.status {
	case http.StatusOK:
		data, err := kv1Data(v1, p)
		if err != nil {
			return "", err
		}
		return field(data, p, key)
	case http.StatusNotFound:
		if v2.status == http.StatusForbidden {
			return "", denied(p, v2, v1)
		}
		return "", refErr(ErrNotFound, nil, "vault:%s: no such secret (KV v2 GET /v1/%s and KV v1 GET /v1/%s both answered 404)", p, v2.api, v1.api)
	case http.StatusForbidden:
		return "", denied(p, v2, v1)
	default:
		return "", statusErr(v1, p)
	}
}

// get asks Vault for api (a path under /v1/) on behalf of reference path p.
func (v *vault) get(ctx context.Context, p, api string) (answer, error) {
	base, err := url.Parse(v.addr)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return answer{}, refErr(ErrInvalidRef, nil, "vault:%s: Vault address %q is not an http(s) URL", p, redactAddr(v.addr))
	}
	segs := strings.Split(api, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.addr+"/v1/"+strings.Join(segs, "/"), nil)
	if err != nil {
		return answer{}, refErr(ErrInvalidRef, nil, "vault:%s: building request to %s", p, redactAddr(v.addr))
	}
	if v.token != "" {
		req.Header.Set("X-Vault-Token", v.token)
	}
	if v.namespace != "" {
		req.Header.Set("X-Vault-Namespace", v.namespace)
	}
	// What Vault's own client sends; a Vault Agent listener may require it.
	req.Header.Set("X-Vault-Request", "true")
	resp, err := v.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, fmt.Errorf("vault:%s: %w", p, ctx.Err())
		}
		return answer{}, refErr(ErrUnavailable, err, "vault:%s: cannot reach Vault at %s", p, redactAddr(v.addr))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return answer{}, refErr(ErrUnavailable, err, "vault:%s: reading Vault's answer to GET /v1/%s", p, api)
	}
	if len(body) > maxAnswer {
		return answer{}, refErr(ErrUnavailable, nil, "vault:%s: Vault's answer to GET /v1/%s is over %d bytes", p, api, maxAnswer)
	}
	return answer{status: resp.StatusCode, body: body, api: api}, nil
}

// kv2Data extracts .data.data from a KV v2 read.
func kv2Data(a answer, p string) (map[string]json.RawMessage, error) {
	var doc struct {
		Data *struct {
			Data map[string]json.RawMessage `json:"data"`
		} `json:"data"`
	}
	// The decoder's message is not used: it can quote part of the body.
	if err := json.Unmarshal(a.body, &doc); err != nil || doc.Data == nil {
		return nil, refErr(ErrUnavailable, nil, "vault:%s: the answer to GET /v1/%s is not a KV v2 secret", p, a.api)
	}
	if doc.Data.Data == nil {
		return nil, refErr(ErrNotFound, nil, "vault:%s: the secret has no data (GET /v1/%s)", p, a.api)
	}
	return doc.Data.Data, nil
}

// kv2Deleted says why a KV v2 404 that still carries metadata has no data (the latest version
// was deleted or destroyed), or "" when the 404 is of another kind.
func kv2Deleted(body []byte) string {
	var doc struct {
		Data *struct {
			Metadata *struct {
				DeletionTime string `json:"deletion_time"`
				Destroyed    bool   `json:"destroyed"`
				Version      int    `json:"version"`
			} `json:"metadata"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Data == nil || doc.Data.Metadata == nil {
		return ""
	}
	m := doc.Data.Metadata
	switch {
	case m.Destroyed:
		return fmt.Sprintf("the latest version (%d) of the secret is destroyed", m.Version)
	case m.DeletionTime != "":
		return fmt.Sprintf("the latest version (%d) of the secret was deleted at %s", m.Version, m.DeletionTime)
	}
	return ""
}

// kv1Data extracts .data from a KV v1 read.
func kv1Data(a answer, p string) (map[string]json.RawMessage, error) {
	var doc struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(a.body, &doc); err != nil || doc.Data == nil {
		return nil, refErr(ErrUnavailable, nil, "vault:%s: the answer to GET /v1/%s is not a KV v1 secret", p, a.api)
	}
	return doc.Data, nil
}

// field returns data[key], which must be a JSON string. Errors name the key and the kind of
// JSON value, never the value.
func field(data map[string]json.RawMessage, p, key string) (string, error) {
	raw, ok := data[key]
	if !ok {
		return "", refErr(ErrNotFound, nil, "vault:%s has no key %q", p, key)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", refErr(ErrInvalidRef, nil, "vault:%s#%s is a JSON %s, not a string", p, key, jsonKind(raw))
	}
	return s, nil
}

// jsonKind names the kind of a JSON value from its first byte.
func jsonKind(raw json.RawMessage) string {
	t := strings.TrimLeft(string(raw), " \t\r\n")
	if t == "" {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '"':
		return "string"
	default:
		return "number"
	}
}

// denied is the error for a token Vault refused.
func denied(p string, v2, v1 answer) error {
	return refErr(ErrPermissionDenied, nil, "permission denied reading vault:%s (token lacks policy): KV v2 GET /v1/%s answered %d, KV v1 GET /v1/%s answered %d",
		p, v2.api, v2.status, v1.api, v1.status)
}

// statusErr is the error for an answer Vault should not have given to a read, with Vault's own
// error messages (which describe the request, never the secret).
func statusErr(a answer, p string) error {
	var doc struct {
		Errors []string `json:"errors"`
	}
	msg := ""
	if json.Unmarshal(a.body, &doc) == nil && len(doc.Errors) > 0 {
		msg = strings.Join(doc.Errors, "; ")
		msg = strings.Join(strings.Fields(msg), " ")
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		msg = ": " + msg
	}
	var kind error // a request Vault refuses (400, 401, …) is not worth trying again
	if a.status >= 500 || a.status == http.StatusTooManyRequests {
		kind = ErrUnavailable // sealed, standby, erroring or rate limited
	}
	return refErr(kind, nil, "vault:%s: GET /v1/%s answered %d %s%s", p, a.api, a.status, http.StatusText(a.status), msg)
}

// redactAddr is a Vault address fit for an error: without a password in it.
func redactAddr(addr string) string {
	u, err := url.Parse(addr)
	if err != nil {
		return "(unparsable address)"
	}
	return u.Redacted()
}
