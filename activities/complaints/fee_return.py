"""Fee-return side effects: the credit in the billing system and the customer's SMS when it lands."""

from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.complaints.complaint import hold_in_quiet_hours
from core.http import PeerRejected
from db.complaints import Complaint, FeeReturn, SmsMessage
from domain.complaints.fee_return import SMS_CREDITED, CreditResolution, FeeReturnStatus
from domain.money import yuan
from gateways.billing import BillingGateway
from gateways.sms import SmsGateway
from services.complaints.fee_return import free_charge_if_ended
from workflows.complaints import contract
from workflows.complaints.contract import CreditFailure, CreditResolved, FeeReturnCredit

log = structlog.get_logger()


class FeeReturnActivities:
    def __init__(self, engine: Engine, billing: BillingGateway, sms: SmsGateway) -> None:
        self.engine = engine
        self.billing = billing
        self.sms = sms

    def _load(self, s: Session, inp: FeeReturnCredit) -> tuple[FeeReturn, Complaint]:
        ret = s.get(FeeReturn, inp.fee_return_id)
        complaint = s.get(Complaint, inp.complaint_id)
        if ret is None or complaint is None or ret.complaint_id != complaint.id:
            raise ApplicationError(f"fee return {inp.fee_return_id} / complaint {inp.complaint_id} not found",
                                   type="CreditRejected", non_retryable=True)
        if ret.msisdn_fingerprint != complaint.msisdn_fingerprint:  # complaint procedure 5.1.1, checked again at the last step
            raise ApplicationError("the fee return's number is not the complaint's number", type="CreditRejected",
                                   non_retryable=True)
        if ret.amount_fen != inp.amount_fen:
            raise ApplicationError("amount differs from the approved one", type="CreditRejected", non_retryable=True)
        return ret, complaint

    @activity.defn(name=contract.CREDIT_FEE_RETURN)
    async def credit(self, inp: FeeReturnCredit) -> str:
        with Session(self.engine) as s:
            ret, complaint = self._load(s, inp)
            if ret.status == FeeReturnStatus.CREDITED and ret.billing_reference:
                return ret.billing_reference
            if ret.status != FeeReturnStatus.APPROVED:
                raise ApplicationError(f"fee return {ret.id} is {ret.status}, not approved", type="CreditRejected",
                                       non_retryable=True)
            msisdn, note = complaint.msisdn, f"complaint {complaint.id} fee return {ret.id} ({ret.category})"
        try:
            reference = await self.billing.credit(inp.fee_return_id, msisdn, inp.amount_fen, note)
        except PeerRejected as err:
            raise ApplicationError(f"billing refused {inp.fee_return_id}: {err.reason}", type="CreditRejected",
                                   non_retryable=True) from err
        with Session(self.engine) as s:
            ret = s.get(FeeReturn, inp.fee_return_id)
            ret.status, ret.billing_reference = FeeReturnStatus.CREDITED.value, reference
            ret.credit_attempts += 1
            ret.credited_at = ret.updated_at = datetime.now(UTC)
            s.add(ret)
            s.commit()
        log.info("fee return credited", fee_return_id=inp.fee_return_id, complaint_id=inp.complaint_id,
                 amount_fen=inp.amount_fen, reference=reference)
        return reference

    @activity.defn(name=contract.SMS_FEE_RETURN_CREDITED)
    async def sms_credited(self, inp: FeeReturnCredit) -> None:
        message_id = f"{inp.fee_return_id}-credited"
        text = SMS_CREDITED.format(amount=yuan(inp.amount_fen))
        with Session(self.engine) as s:
            _, complaint = self._load(s, inp)
            if (done := s.get(SmsMessage, message_id)) is not None and done.status == "sent":
                return
            msisdn, masked = complaint.msisdn, complaint.msisdn_masked
        hold_in_quiet_hours()
        await self.sms.send(message_id, msisdn, text)
        with Session(self.engine) as s:
            s.merge(SmsMessage(message_id=message_id, complaint_id=inp.complaint_id, fee_return_id=inp.fee_return_id,
                               kind="fee_credited", to_masked=masked, text=text, status="sent"))
            s.commit()
        log.info("customer told of the credit", fee_return_id=inp.fee_return_id, to=masked)

    @activity.defn(name=contract.RECORD_CREDIT_FAILURE)
    def record_credit_failure(self, inp: CreditFailure) -> None:
        """The billing system refused: the return leaves "approved" for `credit_failed`, with the refusal."""
        with Session(self.engine) as s:
            ret = s.get(FeeReturn, inp.fee_return_id)
            if ret is None:
                raise ApplicationError(f"fee return {inp.fee_return_id} not found", type="UnknownFeeReturn", non_retryable=True)
            if ret.status == FeeReturnStatus.APPROVED:  # a retried activity finds it recorded already
                ret.status = FeeReturnStatus.CREDIT_FAILED.value
                ret.credit_attempts += 1
                ret.credit_failure = inp.reason[:2000]
                ret.updated_at = datetime.now(UTC)
                s.add(ret)
                s.commit()
        log.warning("fee return credit refused by billing", fee_return_id=inp.fee_return_id, reason=inp.reason,
                    workflow_id=activity.info().workflow_id)

    @activity.defn(name=contract.RECORD_CREDIT_RESOLUTION)
    def record_credit_resolution(self, inp: CreditResolved) -> None:
        """An operator's decision on the refused credit: back to approved to ask again, or cancelled for good."""
        with Session(self.engine) as s:
            ret = s.get(FeeReturn, inp.fee_return_id)
            if ret is None:
                raise ApplicationError(f"fee return {inp.fee_return_id} not found", type="UnknownFeeReturn", non_retryable=True)
            if ret.status == FeeReturnStatus.CREDIT_FAILED:
                retry = inp.resolution == CreditResolution.RETRY
                ret.status = (FeeReturnStatus.APPROVED if retry else FeeReturnStatus.CANCELLED).value
                ret.resolved_by, ret.resolved_at = inp.actor, datetime.now(UTC)
                if not retry:
                    ret.refusal = f"credit cancelled by {inp.actor}: {inp.reason}"[:2000]
                ret.credit_failure = f"{ret.credit_failure} | {inp.resolution} by {inp.actor}: {inp.reason}"[:2000]
                ret.updated_at = ret.resolved_at
                s.add(ret)
                free_charge_if_ended(s, ret)
                s.commit()
        log.info("fee return credit resolved", fee_return_id=inp.fee_return_id, resolution=inp.resolution, actor=inp.actor)
