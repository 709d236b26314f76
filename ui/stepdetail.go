package ui

import (
	"fmt"
	"regexp"
)

// stepDetails are the flow test's own step texts (the oauth and smtp
// packages write them in English), each with its catalogue key: the page
// shows them in its language, the names and addresses kept. A text not
// listed (a server's or provider's reply) is shown as it came.
var stepDetails = []struct {
	re  *regexp.Regexp
	key string
}{
	{regexp.MustCompile(`^operator (\S+) is in flow (\S+)$`), "stepd.operator_in_flow"},
	{regexp.MustCompile(`^flow (\S+) sends as its generic mailbox (\S+)$`), "stepd.generic_mailbox"},
	{regexp.MustCompile(`^flow (\S+) is valid \((.*)\)$`), "stepd.flow_valid"},
	{regexp.MustCompile(`^password stored for (\S+)$`), "stepd.password_stored"},
	{regexp.MustCompile(`^no SMTP password stored for (\S+): sends without authentication$`), "stepd.no_password"},
	{regexp.MustCompile(`^token of (\S+) valid until (.+?)( \(consented as (\S+)\))?$`), "stepd.token_valid"},
	{regexp.MustCompile(`^obtaining an access token$`), "stepd.obtaining_token"},
	{regexp.MustCompile(`^connecting to (\S+)$`), "stepd.connecting"},
	{regexp.MustCompile(`^connected to (\S+)$`), "stepd.connected"},
	{regexp.MustCompile(`^waiting for the server's greeting$`), "stepd.greeting"},
	{regexp.MustCompile(`^TLS handshake with (\S+)$`), "stepd.tls_handshake"},
	{regexp.MustCompile(`^(TLS [0-9.]+), (\S+), certificate of (\S+) verified$`), "stepd.tls_ok"},
	{regexp.MustCompile(`^not encrypted: the flow's security is none$`), "stepd.not_encrypted"},
	{regexp.MustCompile(`^AUTH as (\S+)$`), "stepd.auth_as"},
	{regexp.MustCompile(`^authenticated as (\S+) with (\S+)$`), "stepd.authenticated"},
	{regexp.MustCompile(`^no authentication: the server offers none and is a relay; the stored SMTP password is not used$`), "stepd.relay_no_auth"},
	{regexp.MustCompile(`^no authentication: no SMTP password is stored, the server accepts by address$`), "stepd.no_auth"},
	{regexp.MustCompile(`^the test was stopped after (\S+): no answer during step "(\S+)"(.*)$`), "stepd.timeout"},
	{regexp.MustCompile(`^the test was cancelled during step "(\S+)"(.*)$`), "stepd.cancelled"},
}

// stepDetail is detail in lang when it is one of stepDetails.
func stepDetail(cat catalogue, lang, detail string) string {
	for _, d := range stepDetails {
		m := d.re.FindStringSubmatch(detail)
		if m == nil {
			continue
		}
		format, ok := cat.lookup(lang, d.key)
		if !ok {
			return detail
		}
		args := make([]any, len(m)-1)
		for i, s := range m[1:] {
			args[i] = s
		}
		return fmt.Sprintf(format, args...)
	}
	return detail
}
