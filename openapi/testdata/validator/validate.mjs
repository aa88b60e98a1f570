// Validates one OpenAPI document (2.0, 3.0, 3.1) against the official JSON
// schemas and checks that its internal $refs resolve. Usage:
//   node validate.mjs FILE
// Prints {"valid":…,"version":…,"errors":…} and exits 1 when invalid,
// 2 on a usage error.
import { Validator } from "@seriousme/openapi-schema-validator";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}
const validator = new Validator();
const res = await validator.validate(file);
if (res.valid) {
  try {
    validator.resolveRefs();
  } catch (err) {
    res.valid = false;
    res.errors = [{ message: `unresolvable $ref: ${err.message}` }];
  }
}
console.log(JSON.stringify({ valid: res.valid, version: validator.version, errors: res.errors }, null, 2));
process.exit(res.valid ? 0 : 1);
