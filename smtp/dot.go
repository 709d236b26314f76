package smtp

import (
	"bufio"
	"bytes"
)

// dotWriter writes a message as the body of DATA (RFC 5321 §4.5.2): every
// line ends in CRLF (a bare LF gets its CR), a line that starts with '.'
// gets another '.', and finish ends the data with CRLF "." CRLF. It copies
// whole lines into w, not byte by byte, and counts the message's bytes so
// a message over the server's SIZE stops before it is all sent.
type dotWriter struct {
	w     *bufio.Writer
	limit int64 // 0: no limit
	n     int64
	bol   bool // at the beginning of a line
	cr    bool // the last byte written was CR
	err   error
}

func (d *dotWriter) reset(w *bufio.Writer, limit int64) {
	*d = dotWriter{w: w, limit: limit, bol: true}
}

func (d *dotWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	total := len(p)
	for len(p) > 0 {
		if d.bol && p[0] == '.' {
			d.w.WriteByte('.')
		}
		line, rest, eol := bytes.Cut(p, []byte{'\n'})
		p = rest
		if len(line) > 0 {
			if _, err := d.w.Write(line); err != nil {
				d.err = err
				return 0, err
			}
			d.n += int64(len(line))
			d.cr = line[len(line)-1] == '\r'
			d.bol = false
		}
		if eol {
			if !d.cr {
				d.w.WriteByte('\r')
				d.n++
			}
			if err := d.w.WriteByte('\n'); err != nil {
				d.err = err
				return 0, err
			}
			d.n++
			d.bol, d.cr = true, false
		}
		if d.limit > 0 && d.n > d.limit {
			d.err = &sizeError{Size: d.n, Limit: d.limit}
			return 0, d.err
		}
	}
	return total, nil
}

// finish ends the data and flushes w.
func (d *dotWriter) finish() error {
	if d.err != nil {
		return d.err
	}
	switch {
	case d.cr:
		d.w.WriteString("\n.\r\n")
	case !d.bol:
		d.w.WriteString("\r\n.\r\n")
	default:
		d.w.WriteString(".\r\n")
	}
	return d.w.Flush()
}
