// The console destination: the shared destination contract (it prints, so no network cases).

import { destinationContract } from "./destination_contract.ts";

destinationContract({
  type: "console",
  config: () => ({ type: "console" }),
  secrets: [],
  json: false,
  prints: true,
});
