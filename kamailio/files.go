package kamailio

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The files of the data directory, as kamailio.cfg names them: the
// permissions module's address_file, and the db_text database (a directory
// whose files are tables) that htable loads the credentials from.
const (
	AddressFile      = "address.list"
	CredentialsTable = "sb_credentials"
	versionTable     = "version" // db_text wants every database to have one
)

// RenderAddresses is the address file (permissions module, "Address File
// Format"): "group ip mask port tag" per line. IPv6 addresses are written
// in brackets, as its sample does.
func RenderAddresses(entries []AddressEntry) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by switchboard kamailio sync; do not edit (rewritten on every change).\n")
	for _, a := range entries {
		ip := netip.MustParseAddr(a.IP)
		host, mask := a.IP, 32
		if ip.Is6() {
			host, mask = "["+a.IP+"]", 128
		}
		fmt.Fprintf(&b, "%d %s %d %d %s\n", a.Group, host, mask, a.Port, a.Tag)
	}
	return b.Bytes()
}

// RenderCredentials is the db_text table of credentials, with the columns
// kamailio.cfg's htable definition names (cols=...).
func RenderCredentials(creds []Credential) []byte {
	var b bytes.Buffer
	b.WriteString("username(str) ha1(str) endpoint_sid(str) partner_sid(str)\n")
	for _, c := range creds {
		fmt.Fprintf(&b, "%s:%s:%s:%s\n", dbtextEscape(c.Username), c.HA1, c.EndpointSID, c.PartnerSID)
	}
	return b.Bytes()
}

func renderVersion() []byte {
	return []byte("table_name(str) table_version(int)\n" + CredentialsTable + ":1\n")
}

// dbtextEscape escapes what db_text's table format reserves (README of the
// db_text module, "Internal format of a dbtext table"): the field separator,
// line ends, tabs, the escape itself and NUL.
var dbtextEscaper = strings.NewReplacer(`\`, `\\`, ":", `\:`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "\x00", `\0`)

func dbtextEscape(s string) string { return dbtextEscaper.Replace(s) }

// writeAtomic replaces path with data so that a reader (Kamailio reloading)
// sees the old file or the new one, never a part: a temporary file in the
// same directory, synced, renamed over path, and the directory synced.
// The new file's modification time is later than the old one's by at least
// a second: db_text notices a changed table by its mtime, in seconds.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	var oldMtime time.Time
	if st, err := os.Stat(path); err == nil {
		oldMtime = st.ModTime()
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		return err
	}
	mtime := time.Now()
	if !oldMtime.IsZero() && mtime.Unix() <= oldMtime.Unix() {
		mtime = time.Unix(oldMtime.Unix()+1, 0)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Files writes Kamailio's data files in one directory and remembers what it
// last wrote, so that a file is rewritten (and reloaded) only when it
// changes.
type Files struct {
	Dir                  string
	lastAddrs, lastCreds []byte
}

// Write renders s and writes the files whose contents changed; it reports
// which changed (and so need a reload).
func (f *Files) Write(s State) (addrsChanged, credsChanged bool, err error) {
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return false, false, err
	}
	if _, err := os.Stat(filepath.Join(f.Dir, versionTable)); os.IsNotExist(err) {
		if err := writeAtomic(filepath.Join(f.Dir, versionTable), renderVersion()); err != nil {
			return false, false, err
		}
	}
	addrs := RenderAddresses(s.Addresses)
	if f.lastAddrs == nil || !bytes.Equal(addrs, f.lastAddrs) {
		if err := writeAtomic(filepath.Join(f.Dir, AddressFile), addrs); err != nil {
			return false, false, err
		}
		f.lastAddrs, addrsChanged = addrs, true
	}
	creds := RenderCredentials(s.Credentials)
	if f.lastCreds == nil || !bytes.Equal(creds, f.lastCreds) {
		if err := writeAtomic(filepath.Join(f.Dir, CredentialsTable), creds); err != nil {
			return addrsChanged, false, err
		}
		f.lastCreds, credsChanged = creds, true
	}
	return addrsChanged, credsChanged, nil
}
