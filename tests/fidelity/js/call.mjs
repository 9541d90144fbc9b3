// Calls one REST method through the official @bitrix24/b24jssdk and prints what the SDK handed back, as JSON.
// Usage: node call.mjs <webhook url> <method> <json params>
// The sandbox's throwaway certificate is trusted through NODE_EXTRA_CA_CERTS (verification stays on).
import { B24Hook } from "@bitrix24/b24jssdk";

const [url, method, params] = process.argv.slice(2);
try {
  const b24 = B24Hook.fromWebhookUrl(url);
  b24.offClientSideWarning();
  const answer = await b24.actions.v2.call.make({ method, params: JSON.parse(params || "{}") });
  const out = {
    ok: answer.isSuccess,
    data: answer.getData(),
    total: answer.isSuccess ? answer.getTotal() : null,
    errors: answer.getErrorMessages(),
  };
  process.stdout.write(JSON.stringify(out));
  process.exitCode = answer.isSuccess ? 0 : 2;
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, thrown: `${error?.code ?? ""} ${error?.message ?? error}` }));
  process.exitCode = 1;
}
