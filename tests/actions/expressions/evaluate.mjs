// Evaluates GitHub Actions expressions with GitHub's own engine (@actions/expressions), for
// tests/support/actions/engine.py. Protocol: one JSON line in, {"requests": [...]}, one JSON line out,
// {"results": [...]}, for as long as stdin stays open.
//
// A request: {"text": string, "mode": "if" | "value", "contexts": {name: value},
//             "status": {"success": bool, "failure": bool, "cancelled": bool} (optional)}
// - "value": a workflow value as written in YAML: `${{ expr }}` alone keeps the expression's type;
//   text around or between expressions makes a string, as GitHub's format() would.
// - "if": a condition; `${{ }}` is optional, and a condition that calls none of the status
//   functions is evaluated as `success() && (<condition>)`, as @actions/workflow-parser does
//   (src/model/converter/if-condition.ts, ensureStatusFunction).
// Only the contexts given are known names, and the status functions exist only when "status"
// is given: a name GitHub would not allow in that place is a parse error here too.
// A result: {"value": json, "truthy": bool, "expression": the expression evaluated} or
// {"error": message}.

import { Evaluator, Lexer, Parser, data } from "@actions/expressions";
import { Binary, FunctionCall, Grouping, IndexAccess, Logical, Unary } from "@actions/expressions/ast";
import { truthy } from "@actions/expressions/result";
import { createInterface } from "node:readline";

const STATUS_FUNCTIONS = ["success", "failure", "cancelled", "always"];
const WHOLE = /^\$\{\{([\s\S]*)\}\}$/;

function parse(text, contexts, status) {
  const functions = status ? STATUS_FUNCTIONS.map(name => ({ name, minArgs: 0, maxArgs: 0 })) : [];
  const tokens = new Lexer(text).lex().tokens;
  return new Parser(tokens, Object.keys(contexts), functions).parse();
}

// `a-${{ x }}-b` is format('a-{0}-b', x); a lone `${{ x }}` is x; no `${{` at all is a literal.
function templateExpression(text) {
  const whole = WHOLE.exec(text);
  if (whole && !whole[1].includes("${{")) return whole[1].trim();
  if (!text.includes("${{")) return null;
  let format = "";
  const args = [];
  let rest = text;
  while (rest.length > 0) {
    const start = rest.indexOf("${{");
    if (start < 0) {
      format += escapeFormat(rest);
      break;
    }
    const end = rest.indexOf("}}", start + 3);
    if (end < 0) throw new Error(`unclosed \${{ in ${JSON.stringify(text)}`);
    format += escapeFormat(rest.slice(0, start)) + `{${args.length}}`;
    args.push(`(${rest.slice(start + 3, end).trim()})`);
    rest = rest.slice(end + 2);
  }
  return `format('${format.replaceAll("'", "''")}', ${args.join(", ")})`;
}

function escapeFormat(text) {
  return text.replaceAll("{", "{{").replaceAll("}", "}}");
}

function callsStatusFunction(tree) {
  if (!tree) return false;
  if (tree instanceof FunctionCall) {
    const name = tree.functionName.lexeme.toLowerCase();
    return STATUS_FUNCTIONS.includes(name) || tree.args.some(callsStatusFunction);
  }
  if (tree instanceof Binary) return callsStatusFunction(tree.left) || callsStatusFunction(tree.right);
  if (tree instanceof Unary) return callsStatusFunction(tree.expr);
  if (tree instanceof Logical) return tree.args.some(callsStatusFunction);
  if (tree instanceof Grouping) return callsStatusFunction(tree.group);
  if (tree instanceof IndexAccess) return callsStatusFunction(tree.expr) || callsStatusFunction(tree.index);
  return false;
}

function evaluateOne(request) {
  const contexts = request.contexts || {};
  const status = request.status || null;
  const text = String(request.text);
  let expression;
  if (request.mode === "if") {
    if (!status) throw new Error("an if condition needs the status of the job or step");
    expression = (templateExpression(text.trim()) ?? text).trim() || "success()";
    if (!callsStatusFunction(parse(expression, contexts, status))) {
      expression = `success() && (${expression})`;
    }
  } else if (request.mode === "value") {
    expression = templateExpression(text);
    if (expression === null) return { value: text, truthy: text !== "", expression: null };
  } else {
    throw new Error(`unknown mode ${JSON.stringify(request.mode)}`);
  }
  const tree = parse(expression, contexts, status);
  const context = new data.Dictionary(
    ...Object.entries(contexts).map(([key, value]) => ({
      key,
      value: JSON.parse(JSON.stringify(value), data.reviver),
    })),
  );
  const functions = new Map(
    Object.entries(status || {}).map(([name, value]) => [
      name,
      { name, minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(Boolean(value)) },
    ]),
  );
  if (status) functions.set("always", { name: "always", minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(true) });
  const result = new Evaluator(tree, context, functions).evaluate();
  return { value: JSON.parse(JSON.stringify(result, data.replacer)), truthy: truthy(result), expression };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const results = JSON.parse(line).requests.map(request => {
    try {
      return evaluateOne(request);
    } catch (error) {
      return { error: String(error && error.message ? error.message : error) };
    }
  });
  process.stdout.write(JSON.stringify({ results }) + "\n");
}
