// Validates a connect.yaml with the Connect specification parser (the zod schema the
// commercetools Connect CLI uses: @commercetools-connect/specification). Exit 1 on any error.
import fs from "node:fs";
import { ConnectorSpecificationParser } from "@commercetools-connect/specification";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate-connect.mjs <connect.yaml>");
  process.exit(2);
}
try {
  const spec = await new ConnectorSpecificationParser().parse(fs.readFileSync(file, "utf8"));
  const apps = (spec.deployAs ?? []).map((a) => a.name).join(", ");
  console.log(`connect.yaml valid: ${apps}`);
} catch (err) {
  console.error(`connect.yaml invalid:\n${err.message}`);
  process.exit(1);
}
