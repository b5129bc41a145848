package kamailio

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
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

// textWriter is where a file is rendered: a buffer, or a bufio.Writer in
// front of the file or of a hash.
type textWriter interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
}

// RenderAddresses is the address file (permissions module, "Address File
// Format"): "group ip mask port tag" per line. IPv6 addresses are written
// in brackets, as its sample does.
func RenderAddresses(entries []AddressEntry) []byte {
	var b bytes.Buffer
	writeAddressHeader(&b)
	for _, a := range entries {
		writeAddress(&b, a.Group, netip.MustParseAddr(a.IP), a.Port, a.Tag)
	}
	return b.Bytes()
}

func writeAddressHeader(b textWriter) {
	b.WriteString("# Written by switchboard kamailio sync; do not edit (rewritten on every change).\n")
}

// writeAddress writes one record; the tag is the concatenation of its
// parts (written as they are, not built as one string per record).
func writeAddress(b textWriter, group int, ip netip.Addr, port int64, tag ...string) {
	b.WriteString(strconv.Itoa(group))
	b.WriteByte(' ')
	if ip.Is6() {
		b.WriteByte('[')
		b.WriteString(ip.String())
		b.WriteString("] 128 ")
	} else {
		b.WriteString(ip.String())
		b.WriteString(" 32 ")
	}
	b.WriteString(strconv.FormatInt(port, 10))
	b.WriteByte(' ')
	for _, part := range tag {
		b.WriteString(part)
	}
	b.WriteByte('\n')
}

// RenderCredentials is the db_text table of credentials, with the columns
// kamailio.cfg's htable definition names (cols=...).
func RenderCredentials(creds []Credential) []byte {
	var b bytes.Buffer
	writeCredentialsHeader(&b)
	for _, c := range creds {
		writeCredential(&b, c.Username, c.HA1, c.EndpointSID, c.PartnerSID)
	}
	return b.Bytes()
}

func writeCredentialsHeader(b textWriter) {
	b.WriteString("username(str) ha1(str) endpoint_sid(str) partner_sid(str)\n")
}

func writeCredential(b textWriter, username, ha1, endpointSID, partnerSID string) {
	dbtextEscaper.WriteString(b, username)
	b.WriteByte(':')
	b.WriteString(ha1)
	b.WriteByte(':')
	b.WriteString(endpointSID)
	b.WriteByte(':')
	b.WriteString(partnerSID)
	b.WriteByte('\n')
}

func renderVersion() []byte {
	return []byte("table_name(str) table_version(int)\n" + CredentialsTable + ":1\n")
}

// dbtextEscape escapes what db_text's table format reserves (README of the
// db_text module, "Internal format of a dbtext table"): the field separator,
// line ends, tabs, the escape itself and NUL.
var dbtextEscaper = strings.NewReplacer(`\`, `\\`, ":", `\:`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "\x00", `\0`)

// writeAtomic replaces path with data so that a reader (Kamailio reloading)
// sees the old file or the new one, never a part: a temporary file in the
// same directory, synced, renamed over path, and the directory synced.
// The new file's modification time is later than the old one's by at least
// a second: db_text notices a changed table by its mtime, in seconds.
func writeAtomic(path string, data []byte) error {
	return writeAtomicFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomicFunc is writeAtomic with the contents written by write,
// through a buffer, so that a large file is never held whole.
func writeAtomicFunc(path string, write func(io.Writer) error) error {
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
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
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
// last wrote (a hash), so that a file is rewritten (and reloaded) only when
// it changes. A file is rendered twice when it changed (once into the hash,
// once into the file), never held whole in memory.
type Files struct {
	Dir                  string
	lastAddrs, lastCreds [sha256.Size]byte
	written              bool
}

// forget makes the next Write rewrite both files.
func (f *Files) forget() { f.written = false }

// Write writes the files of s whose contents changed; it reports which
// changed (and so need a reload).
func (f *Files) Write(s State) (addrsChanged, credsChanged bool, err error) {
	return f.write(func(b textWriter) {
		for _, a := range s.Addresses {
			writeAddress(b, a.Group, netip.MustParseAddr(a.IP), a.Port, a.Tag)
		}
	}, func(b textWriter) {
		for _, c := range s.Credentials {
			writeCredential(b, c.Username, c.HA1, c.EndpointSID, c.PartnerSID)
		}
	})
}

// writeResolved is Write from the agent's resolved table, without building
// a string per record.
func (f *Files) writeResolved(r resolved) (addrsChanged, credsChanged bool, err error) {
	return f.write(func(b textWriter) {
		for _, a := range r.addresses {
			if a.gateway {
				writeAddress(b, int(a.group), a.addr(), int64(a.port), SystemGatewayTag)
			} else {
				writeAddress(b, int(a.group), a.addr(), int64(a.port), a.endpointSID, ",", r.partnerSIDs[a.partner])
			}
		}
	}, func(b textWriter) {
		var ha1 [2 * md5.Size]byte
		for _, c := range r.creds {
			hex.Encode(ha1[:], c.ha1[:])
			writeCredential(b, c.username, string(ha1[:]), c.endpointSID, r.partnerSIDs[c.partner])
		}
	})
}

func (f *Files) write(addrs, creds func(textWriter)) (addrsChanged, credsChanged bool, err error) {
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return false, false, err
	}
	if _, err := os.Stat(filepath.Join(f.Dir, versionTable)); os.IsNotExist(err) {
		if err := writeAtomic(filepath.Join(f.Dir, versionTable), renderVersion()); err != nil {
			return false, false, err
		}
	}
	addrsChanged, err = f.writeIfChanged(AddressFile, &f.lastAddrs, func(w textWriter) {
		writeAddressHeader(w)
		addrs(w)
	})
	if err != nil {
		f.written = false
		return false, false, err
	}
	credsChanged, err = f.writeIfChanged(CredentialsTable, &f.lastCreds, func(w textWriter) {
		writeCredentialsHeader(w)
		creds(w)
	})
	if err != nil {
		f.written = false
		return addrsChanged, false, err
	}
	f.written = true
	return addrsChanged, credsChanged, nil
}

func (f *Files) writeIfChanged(name string, last *[sha256.Size]byte, render func(textWriter)) (bool, error) {
	h := sha256.New()
	bw := bufio.NewWriterSize(h, 64<<10)
	render(bw)
	bw.Flush()
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if f.written && sum == *last {
		return false, nil
	}
	err := writeAtomicFunc(filepath.Join(f.Dir, name), func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		render(bw)
		return bw.Flush()
	})
	if err != nil {
		return false, err
	}
	*last = sum
	return true, nil
}
