package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	sb "github.com/switchboard-sip/switchboard"
)

// maxBodyBytes is the largest body accepted (§3: over 1 MiB is 413).
const maxBodyBytes = 1 << 20

// maxDepth bounds the nesting of a body; the deepest valid Endpoint body
// nests four levels.
const maxDepth = 32

// readBody checks the media type and size of a POST, PATCH or PUT body and
// decodes it as one JSON object.
func readBody(w http.ResponseWriter, r *http.Request) (sb.Body, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, errMediaType
	}
	if r.ContentLength > maxBodyBytes {
		return nil, errTooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "bad request", "the body could not be read"}
	}
	return decodeObject(data)
}

// decodeObject decodes exactly one JSON object (numbers as json.Number). It
// refuses what encoding/json would let through silently: invalid UTF-8,
// duplicate keys, data after the object, and absurd nesting.
func decodeObject(data []byte) (sb.Body, error) {
	if !utf8.Valid(data) {
		return nil, errNoJSONObject
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errNoJSONObject
	}
	obj, err := decodeObjectRest(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNoJSONObject
	}
	return obj, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, errNoJSONObject
	}
	switch tok {
	case json.Delim('{'):
		return decodeObjectRest(dec, depth+1)
	case json.Delim('['):
		return decodeArrayRest(dec, depth+1)
	}
	return tok, nil
}

func decodeObjectRest(dec *json.Decoder, depth int) (map[string]any, error) {
	if depth > maxDepth {
		return nil, &apiError{http.StatusBadRequest, "bad request", "the JSON body is nested too deeply"}
	}
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errNoJSONObject
		}
		key, _ := tok.(string)
		if _, dup := obj[key]; dup {
			return nil, &apiError{http.StatusBadRequest, "bad request", "the JSON body repeats a key in one object"}
		}
		if obj[key], err = decodeValue(dec, depth); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, errNoJSONObject
	}
	return obj, nil
}

func decodeArrayRest(dec *json.Decoder, depth int) ([]any, error) {
	if depth > maxDepth {
		return nil, &apiError{http.StatusBadRequest, "bad request", "the JSON body is nested too deeply"}
	}
	arr := []any{}
	for dec.More() {
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, errNoJSONObject
	}
	return arr, nil
}

// marshal encodes v as compact JSON without HTML escaping (the API is not
// HTML; clients should get back the characters they sent).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := marshal(v)
	if err != nil {
		// Only values the server built are encoded here; failing is a bug.
		data, status = []byte(`{"errors":[{"field":null,"message":"internal server error","reference_sid":null}],"message":"internal server error"}`), http.StatusInternalServerError
	}
	writeJSONBytes(w, status, data)
}

// writeJSONBytes writes data, JSON already encoded.
func writeJSONBytes(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(data)
}
