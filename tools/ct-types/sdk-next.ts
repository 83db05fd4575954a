// The platform SDK's types, plus the fields and actions commercetools released after the SDK
// version pinned in package.json. This is the ONE allowlist of such fields: each dated entry
// names the release note it comes from. Remove an entry once the pinned SDK has it.
export type * from "@commercetools/platform-sdk";
import type * as sdk from "@commercetools/platform-sdk";

// --- 2026-09-17: "Added controls for how Direct Discounts interact with Cart Discounts and
// best deal selection" (@commercetools/platform-sdk 9.5.0 was published 2026-09-08):
// https://docs.commercetools.com/api/releases/2026-09-17-added-controls-for-how-direct-discounts-interact-with-cart-discounts-and-best-deal-selection
//   - directDiscountsIgnoreCartDiscounts on Cart, CartDraft, Order
//   - participateInBestDealSelection on DirectDiscount and DirectDiscountDraft
//   - the Set DirectDiscountsIgnoreCartDiscounts update action of the Carts API
// The interfaces are merged into the SDK's own declarations (module augmentation), so the
// fields are known wherever the SDK nests these types (messages, extension input, ...).
declare module "@commercetools/platform-sdk/dist/declarations/src/generated/models/cart.js" {
  interface Cart {
    readonly directDiscountsIgnoreCartDiscounts?: boolean;
  }
  interface CartDraft {
    readonly directDiscountsIgnoreCartDiscounts?: boolean;
  }
  interface DirectDiscount {
    readonly participateInBestDealSelection?: boolean;
  }
  interface DirectDiscountDraft {
    readonly participateInBestDealSelection?: boolean;
  }
}
declare module "@commercetools/platform-sdk/dist/declarations/src/generated/models/order.js" {
  interface Order {
    readonly directDiscountsIgnoreCartDiscounts?: boolean;
  }
}

export interface CartSetDirectDiscountsIgnoreCartDiscountsAction {
  readonly action: "setDirectDiscountsIgnoreCartDiscounts";
  readonly directDiscountsIgnoreCartDiscounts: boolean;
}

export type CartUpdateAction = sdk.CartUpdateAction | CartSetDirectDiscountsIgnoreCartDiscountsAction;

// Compositions the SDK does not name (no new fields: both halves are the SDK's own types).
// A message notification is the MessageDeliveryPayload envelope plus the message's fields
// (RAML examples/message-payload.example.json); when `payloadNotIncluded` is set, it is the
// envelope alone.
export type MessageNotification =
  | (sdk.MessageDeliveryPayload & sdk.Message)
  | (sdk.MessageDeliveryPayload & { readonly payloadNotIncluded: sdk.PayloadNotIncluded });
