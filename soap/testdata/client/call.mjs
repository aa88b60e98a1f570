// Calls a SOAP service with node-soap, a client generated from the WSDL.
//
// Usage: node call.mjs WSDL_URL CALLS.json
//
// CALLS.json is an array of
//   {"operation": "batchSave", "inputParam": "requestJson", "input": "{…}",
//    "soapToken": "…", "httpToken": "…", "namespace": "http://…"}
// where soapToken goes in a SOAP header <access_token> in namespace and
// httpToken in the HTTP header access_token (both optional). Prints the
// results (objects like {"resultJson": "…"}) as a JSON array; on an error,
// e.g. a SOAP fault, prints it to stderr and exits 1.
import { readFile } from 'node:fs/promises';
import soap from 'soap';

const [wsdlUrl, callsFile] = process.argv.slice(2);
if (!wsdlUrl || !callsFile) {
  console.error('usage: node call.mjs WSDL_URL CALLS.json');
  process.exit(2);
}

try {
  const calls = JSON.parse(await readFile(callsFile, 'utf8'));
  const client = await soap.createClientAsync(wsdlUrl);
  const outputs = [];
  for (const call of calls) {
    const method = client[call.operation + 'Async'];
    if (typeof method !== 'function') {
      throw new Error(`the WSDL has no operation ${call.operation}`);
    }
    client.clearSoapHeaders();
    if (call.soapToken) {
      client.addSoapHeader({ access_token: call.soapToken }, '', 'tns', call.namespace);
    }
    const extraHeaders = call.httpToken ? { access_token: call.httpToken } : {};
    const [result] = await method.call(client, { [call.inputParam]: call.input }, {}, extraHeaders);
    outputs.push(result);
  }
  console.log(JSON.stringify(outputs));
} catch (err) {
  const fault = err.root?.Envelope?.Body?.Fault;
  console.error(fault ? `SOAP fault: ${JSON.stringify(fault)}` : (err.stack ?? String(err)));
  process.exit(1);
}
