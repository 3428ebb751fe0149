// Starts `dlspec lsp` (stdio) for .dlspec files; everything else comes from the server.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("dlspec").get("server.command", ["dlspec", "lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient("dlspec", "dlspec", { run: server, debug: server }, {
    documentSelector: [{ scheme: "file", language: "dlspec" }, { scheme: "untitled", language: "dlspec" }],
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
