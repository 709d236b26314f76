// The token introspection endpoint (RFC 7662) Dovecot's oauth2 passdb asks
// while Nodemailer sends through it (dovecot.sh): a POST of token=... to
// /introspect is answered active, with --user as email, for --token, and
// inactive for any other. envoi bench serves the same endpoint for its own
// provider's tokens (--introspect-listen) during its run. Prints
// "listening" once it accepts connections, and the number of requests it
// answered when it gets SIGTERM.
//
//   node introspect.mjs --listen 127.0.0.1:25262 --token TOKEN --user bench01@example.com
import http from "node:http";

function flag(name, def) {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : def;
}

const [host, port] = flag("listen", "127.0.0.1:0").split(":");
const token = flag("token", "");
const user = flag("user", "");
let calls = 0;

const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    calls++;
    const ok = req.method === "POST" && req.url === "/introspect" && token !== "" && new URLSearchParams(body).get("token") === token;
    res.writeHead(ok || req.url === "/introspect" ? 200 : 404, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    res.end(JSON.stringify(ok ? { active: true, email: user, scope: "smtp", token_type: "Bearer", exp: Math.floor(Date.now() / 1000) + 3600 } : { active: false }));
  });
});
server.listen(Number(port), host, () => console.log("listening"));
process.on("SIGTERM", () => {
  console.log(`introspect: ${calls} requests`);
  server.close();
  process.exit(0);
});
