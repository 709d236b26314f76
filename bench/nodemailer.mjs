// The Nodemailer row of envoi's performance table: a pool of 8 SMTP
// connections sending --count messages to a loopback SMTP server (Postfix's
// smtp-sink), each composed by Nodemailer from a text, an HTML alternative
// and a PDF attachment (the same random bytes in every message, as envoi
// bench sends). Prints one line: delivered msg/s, peak RSS and CPU a message.
//
//   node nodemailer.mjs --port 2525 [--host 127.0.0.1] [--count 5000] [--attachment-kb 100] [--pool 8]
//   node nodemailer.mjs --write-eml FILE   (writes one such message, for smtp-source -F)
import crypto from "node:crypto";
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

const transport = nodemailer.createTransport({
  host, port, secure: false, ignoreTLS: true, pool: true,
  maxConnections: pool, maxMessages: Infinity,
});

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
