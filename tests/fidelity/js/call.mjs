// Calls the sandbox through the official @bitrix24/b24jssdk and prints what the SDK handed back, as JSON.
// Usage: node call.mjs <webhook url> <method> <json params>
//        node call.mjs <webhook url> batch <json array of [method, params]>   (the SDK builds `cmd` itself)
// The sandbox's throwaway certificate is trusted through NODE_EXTRA_CA_CERTS (verification stays on).
import { B24Hook } from "@bitrix24/b24jssdk";

const [url, method, params] = process.argv.slice(2);

async function run(b24) {
  if (method === "batch") {
    const calls = JSON.parse(params);
    const answer = await b24.actions.v2.batch.make({ calls, options: { isHaltOnError: true } });
    return { ok: answer.isSuccess, data: answer.getData(), errors: answer.getErrorMessages() };
  }
  const answer = await b24.actions.v2.call.make({ method, params: JSON.parse(params || "{}") });
  return {
    ok: answer.isSuccess,
    data: answer.getData(),
    total: answer.isSuccess ? answer.getTotal() : null,
    errors: answer.getErrorMessages(),
  };
}

try {
  const b24 = B24Hook.fromWebhookUrl(url);
  b24.offClientSideWarning();
  const out = await run(b24);
  process.stdout.write(JSON.stringify(out));
  process.exitCode = out.ok ? 0 : 2;
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, thrown: `${error?.code ?? ""} ${error?.message ?? error}` }));
  process.exitCode = 1;
}
