package switchboard

import (
	"crypto/rand"
	"math/big"
	"strings"

	"github.com/google/uuid"
)

// NewSID returns a new random (version 4) UUID, the form of every SID.
func NewSID() string { return uuid.NewString() }

// IsSID reports whether s has the form of a SID (a UUID in its canonical
// 36-character spelling).
func IsSID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewPassword returns the 12 random letters and digits of a hosted
// endpoint's generated password.
func NewPassword() string { return randomString(alphanumerics, 12) }

// NewLogin derives a hosted endpoint's login from its name ("My Conf" →
// "my_conf_4821"). Logins are unique across the server; the store refuses a
// taken one and the caller retries with a higher attempt, which adds digits.
func NewLogin(name string, attempt int) string {
	var b strings.Builder
	underscore := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if underscore && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			underscore = false
		} else {
			underscore = true
		}
		if b.Len() >= 32 {
			break
		}
	}
	base := b.String()
	if base == "" {
		base = "endpoint"
	}
	return base + "_" + randomString("0123456789", 4+2*attempt)
}

func randomString(alphabet string, n int) string {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error()) // the OS has no randomness: nothing is safe
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out)
}
