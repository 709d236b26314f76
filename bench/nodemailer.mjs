// The Nodemailer row of envoi's performance table: a pool of 8 SMTP
// connections sending --count messages to a loopback SMTP server (Postfix's
// smtp-sink), each composed by Nodemailer from a text, an HTML alternative
// and a PDF attachment (the same random bytes in every message, as envoi
// bench sends). Prints one line: delivered msg/s, peak RSS and CPU a message.
//
//   node nodemailer.mjs --port 2525 [--host 127.0.0.1] [--count 5000] [--attachment-kb 100] [--pool 8] [--nodelay]
//   node nodemailer.mjs --port 2587 --host 127.0.0.2 --security starttls --ca ca.pem \
//        --user bench01@example.com --access-token TOKEN     (XOAUTH2 into a submission server: dovecot.sh)
//   node nodemailer.mjs --write-eml FILE   (writes one such message, for smtp-source -F)
//
// Nodemailer leaves Nagle's algorithm on (Node's sockets start with it and
// Nodemailer has no option to turn it off): it writes a message in many
// small pieces, so the last piece (".\r\n") waits for the server's ACK of
// the previous one, which the server delays (40 ms on Linux) because it has
// nothing to answer before the end of the data. That is its default
// behaviour, which the table reports; --nodelay gives it sockets with
// TCP_NODELAY (through its getSocket option), as envoi's Go sockets have,
// for the figure without that wait.
import crypto from "node:crypto";
import net from "node:net";
import nodemailer from "nodemailer";

function flag(name, def) {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : def;
}

const host = flag("host", "127.0.0.1");
const port = Number(flag("port", "25"));
const count = Number(flag("count", "5000"));
const kb = Number(flag("attachment-kb", "100"));
const pool = Number(flag("pool", "8"));
// none (plain SMTP, as into smtp-sink), starttls or tls.
const security = flag("security", "none");
const ca = flag("ca", "");
const user = flag("user", "");
const accessToken = flag("access-token", "");

const pdf = crypto.randomBytes(kb * 1024);
Buffer.from("%PDF-1.7\n").copy(pdf);
const text = "Bonjour,\nVeuillez trouver ci-joint le BL NUMBER.\nCordialement\n\nForterro SAS — 1 rue de la Paix, Paris\n";
const html = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><div>Bonjour,<br>Veuillez trouver ci-joint le BL NUMBER.<br>Cordialement</div><div>Forterro SAS — 1 rue de la Paix, Paris</div></body></html>\n";

function mail(number) {
  return {
    from: "\"Bench\" <bench01@example.com>",
    to: "client@example.org",
    subject: "FORTERRO : Envoi du BL : " + number,
    text: text.replace("NUMBER", number),
    html: html.replace("NUMBER", number),
    attachments: [{ filename: "BL_" + number + ".pdf", content: pdf, contentType: "application/pdf" }],
  };
}

const eml = flag("write-eml", "");
if (eml) {
  const fs = await import("node:fs");
  const info = await nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" }).sendMail(mail("000001"));
  fs.writeFileSync(eml, info.message);
  process.exit(0);
}

const options = {
  host, port, pool: true, maxConnections: pool, maxMessages: Infinity,
  secure: security === "tls", requireTLS: security === "starttls", ignoreTLS: security === "none",
};
if (ca) {
  const fs = await import("node:fs");
  options.tls = { ca: fs.readFileSync(ca) };
}
if (accessToken) {
  // XOAUTH2 with a token obtained beforehand (no refresh during the run).
  options.auth = { type: "OAuth2", user, accessToken };
}
if (process.argv.includes("--nodelay")) {
  // A connected socket with TCP_NODELAY; Nodemailer runs SMTP (and
  // STARTTLS, or TLS from the first byte) on it.
  options.getSocket = (_, callback) => {
    const socket = net.connect({ host, port, noDelay: true }, () => callback(null, { connection: socket }));
    socket.once("error", callback);
  };
}
const transport = nodemailer.createTransport(options);

const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let next = 0;
let failed = 0;

async function client() {
  for (;;) {
    const i = ++next;
    if (i > count) return;
    const number = String(i).padStart(6, "0");
    try {
      await transport.sendMail(mail(number));
    } catch (e) {
      if (failed++ < 3) console.error(String(e));
    }
  }
}

// As many messages in flight as the pool has connections.
await Promise.all(Array.from({ length: pool }, client));
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
transport.close();
const ms = (cpu.user + cpu.system) / 1000 / count;
const rssMB = process.resourceUsage().maxRSS / 1024;
console.log(`nodemailer: ${count - failed} delivered in ${secs.toFixed(2)}s, ${((count - failed) / secs).toFixed(0)} msg/s, peak RSS ${rssMB.toFixed(0)} MB, CPU ${ms.toFixed(2)} ms a message`);
process.exit(failed ? 1 : 0);
