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
			d.n++
		}
		n, bareLF := d.clean(p)
		if d.limit > 0 && d.n+int64(n) > d.limit {
			d.err = &sizeError{Size: d.n + int64(n), Limit: d.limit}
			return 0, d.err
		}
		if n > 0 {
			if _, err := d.w.Write(p[:n]); err != nil {
				d.err = err
				return 0, err
			}
			d.n += int64(n)
			d.cr, d.bol = p[n-1] == '\r', p[n-1] == '\n'
			p = p[n:]
		}
		if bareLF {
			if _, err := d.w.WriteString("\r\n"); err != nil {
				d.err = err
				return 0, err
			}
			d.n += 2
			d.cr, d.bol = false, true
			p = p[1:]
		}
	}
	return total, nil
}

// clean returns how many leading bytes of p go out as they are: all of
// them, or up to a bare LF (bareLF: it needs its CR), or up to a line that
// starts with '.' (it needs another). A message from the composer has
// neither, and goes out in one piece.
func (d *dotWriter) clean(p []byte) (n int, bareLF bool) {
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return len(p), false
		}
		lf := i + j
		if cr := d.cr; lf > 0 {
			if p[lf-1] != '\r' {
				return lf, true
			}
		} else if !cr {
			return 0, true
		}
		i = lf + 1
		if i == len(p) || p[i] == '.' {
			return i, false
		}
	}
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
