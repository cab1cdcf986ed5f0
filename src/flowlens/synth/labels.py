"""Activity labels: English (friendly or BPIC 2017 style) and Simplified Chinese.

Events are recorded with a stable key; labels are applied when writing, so ``labels`` and
``label_style`` change only the text. Loan activities are keyed by their BPIC 2017 names;
``label_style="friendly"`` writes plain English instead.

>>> label("verify_identity", "en"), label("verify_identity", "zh")
('Verify Identity', '身份核验')
>>> label("A_Submitted", "en", "bpic17"), label("A_Submitted", "en", "friendly")
('A_Submitted', 'Application Submitted')
"""

from __future__ import annotations

from flowlens.errors import ConfigError

# key -> (English, Chinese)
LABELS: dict[str, tuple[str, str]] = {
    # background work of the same staff (background_events.parquet)
    "alert_generated": ("Alert Generated", "交易监测预警生成"),
    "review_alert": ("Review Alert", "预警核查"),
    "counter_ticket_issued": ("Counter Ticket Issued", "柜面取号"),
    "serve_counter_transaction": ("Serve Counter Transaction", "柜面交易办理"),
    "task_assigned": ("Task Assigned", "任务分派"),
    "department_task": ("Department Task", "部门本职工作"),
    "internal_task": ("Internal Task", "内部事务"),
    "attend_meeting": ("Attend Meeting", "参加会议"),
    # shared
    "verify_identity": ("Verify Identity", "身份核验"),
    "handle_request": ("Handle Request", "处理请求"),
    "notify_customer": ("Notify Customer", "通知客户"),
    "take_queue_ticket": ("Take Queue Ticket", "取号"),
    "called_to_counter": ("Called to Counter", "叫号到柜台"),
    "leave_queue": ("Leave Queue", "离开排队"),
    "app_login": ("App Login", "手机银行登录"),
    "request_human": ("Request Human Agent", "请求人工服务"),
    "chat_start": ("Chat Start", "会话开始"),
    "chat_end": ("Chat End", "会话结束"),
    "re_explain_issue": ("Re-explain Issue", "重复说明问题"),
    "video_id_verification": ("Video ID Verification", "视频身份核验"),
    "branch_visit_required": ("Branch Visit Required", "需到网点办理"),
    "step_up_authentication": ("Step-up Authentication", "加强身份认证"),
    # P5 service issue
    "open_issue": ("Open Issue", "创建服务事项"),
    "close_issue": ("Close Issue", "服务事项办结"),
    "send_survey": ("Send Survey", "发送满意度调查"),
    "agent_answers": ("Agent Answers", "坐席接听"),
    "ivr_menu": ("IVR Menu", "语音菜单"),
    "ivr_authentication": ("IVR Authentication", "语音身份认证"),
    "ivr_authentication_failed": ("IVR Authentication Failed", "语音身份认证失败"),
    "ivr_self_service": ("IVR Self-Service", "语音自助服务"),
    "enter_queue": ("Enter Queue", "进入排队"),
    "abandon_call": ("Abandon Call", "放弃来电"),
    "hold": ("Hold", "通话保持"),
    "transfer_call": ("Transfer Call", "转接电话"),
    "warm_transfer_briefing": ("Warm Transfer Briefing", "转接交接说明"),
    "after_call_work": ("After-Call Work", "话后处理"),
    "create_ticket": ("Create Ticket", "创建工单"),
    "resolve_ticket": ("Resolve Ticket", "处理工单"),
    "intent_not_understood": ("Intent Not Understood", "未识别意图"),
    "rephrase_question": ("Rephrase Question", "重新描述问题"),
    "bot_answer": ("Bot Answer", "机器人答复"),
    "agent_joins_chat": ("Agent Joins Chat", "人工坐席接入"),
    "self_service_action": ("Self-Service Action", "自助办理"),
    "submit_service_request": ("Submit Service Request", "提交服务申请"),
    # P1 account opening
    "fill_application_form": ("Fill Application Form", "填写开户申请"),
    "capture_id_document": ("Capture ID Document", "采集身份证件"),
    "online_id_check": ("Online ID Check", "联网核查"),
    "face_verification": ("Face Verification", "人脸识别"),
    "abandon_application": ("Abandon Application", "放弃申请"),
    "switch_to_branch": ("Switch to Branch", "转网点办理"),
    "re_enter_customer_information": ("Re-enter Customer Information", "重新录入客户信息"),
    "retrieve_online_application": ("Retrieve Online Application", "调取线上申请"),
    "key_in_customer_data": ("Key In Customer Data", "录入客户资料"),
    "risk_rating": ("Customer Risk Rating", "客户风险评级"),
    "manual_id_review": ("Manual ID Review", "人工身份复核"),
    "request_additional_documents": ("Request Additional Documents", "补充材料通知"),
    "customer_submits_documents": ("Customer Submits Documents", "客户提交材料"),
    "review_documents": ("Review Documents", "审核材料"),
    "application_expired": ("Application Expired", "申请过期"),
    "enhanced_due_diligence": ("Enhanced Due Diligence", "强化尽职调查"),
    "aml_screening": ("AML Screening", "反洗钱筛查"),
    "manual_aml_review": ("Manual AML Review", "反洗钱人工复核"),
    "supervisor_authorization": ("Supervisor Authorization", "主管授权"),
    "risk_questionnaire": ("Risk Questionnaire", "风险测评问卷"),
    "dual_recording": ("Dual Recording", "双录"),
    "sign_agreement": ("Sign Agreement", "签署协议"),
    "open_account": ("Open Account", "开立账户"),
    "issue_card": ("Issue Card", "发卡"),
    "issue_virtual_card": ("Issue Virtual Card", "发放虚拟卡"),
    "mail_card": ("Mail Card", "邮寄银行卡"),
    "activate_mobile_banking": ("Activate Mobile Banking", "开通手机银行"),
    "welcome_message": ("Welcome Message", "欢迎短信"),
    # P3 card dispute
    "bot_authenticates": ("Bot Authenticates", "机器人身份认证"),
    "upload_receipt_in_chat": ("Upload Receipt in Chat", "会话中上传凭证"),
    "report_dispute": ("Report Dispute", "受理争议"),
    "capture_details": ("Capture Details", "记录争议详情"),
    "block_card_and_reissue": ("Block Card & Reissue", "挂失并补卡"),
    "acknowledge_dispute": ("Acknowledge Dispute", "争议受理确认"),
    "classify_dispute": ("Classify Dispute", "争议分类"),
    "reassign_case": ("Reassign Case", "转派案件"),
    "review_case": ("Review Case", "复核案件"),
    "request_documents": ("Request Documents", "索取材料"),
    "customer_uploads_documents": ("Customer Uploads Documents", "客户上传材料"),
    "provisional_credit": ("Provisional Credit", "临时入账"),
    "investigate": ("Investigate", "调查"),
    "submit_chargeback": ("Submit Chargeback", "提交退单"),
    "merchant_response_received": ("Merchant Response Received", "收到商户回复"),
    "review_representment": ("Review Representment", "审核商户再请款"),
    "pre_arbitration": ("Pre-Arbitration", "预仲裁"),
    "decide_dispute": ("Decide Dispute", "争议裁定"),
    "finalize_credit": ("Finalize Credit", "确认入账"),
    "reverse_provisional_credit": ("Reverse Provisional Credit", "冲回临时入账"),
    "close_dispute": ("Close Dispute", "结案"),
    # P4 complaint
    "receive_complaint": ("Receive Complaint", "受理投诉"),
    "submit_supporting_documents": ("Submit Supporting Documents", "提交证明材料"),
    "regulator_referral_received": ("Regulator Referral Received", "收到监管转办"),
    "register_complaint": ("Register Complaint", "投诉登记"),
    "acknowledge_complaint": ("Acknowledge Complaint", "投诉受理告知"),
    "classify_and_prioritize": ("Classify & Prioritize", "分类定级"),
    "assign_handler": ("Assign Handler", "分派处理人"),
    "resolve_at_first_contact": ("Resolve at First Contact", "首次接触解决"),
    "send_summary_resolution": ("Send Summary Resolution", "发送简易处理结果"),
    "request_information": ("Request Information", "要求补充信息"),
    "customer_provides_information": ("Customer Provides Information", "客户补充信息"),
    "request_records": ("Request Records", "调取记录"),
    "provide_records": ("Provide Records", "提供记录"),
    "investigate_complaint": ("Investigate Complaint", "调查核实"),
    "request_department_input": ("Request Department Input", "请求部门协查"),
    "department_input": ("Department Input", "部门协查意见"),
    "reassign_complaint": ("Reassign Complaint", "重新分派"),
    "review_complaint": ("Review Complaint", "复核投诉"),
    "propose_resolution": ("Propose Resolution", "拟定处理方案"),
    "discuss_resolution_with_customer": ("Discuss Resolution with Customer", "与客户沟通处理方案"),
    "approve_resolution": ("Approve Resolution", "审批处理方案"),
    "second_approval": ("Second Approval", "二次审批"),
    "send_final_response": ("Send Final Response", "发送最终答复"),
    "send_holding_response": ("Send Holding Response", "发送延期告知"),
    "customer_rejects_response": ("Customer Rejects Response", "客户不认可答复"),
    "escalate_to_regulator": ("Escalate to Regulator", "升级至监管"),
    "set_waiting_for_customer": ("Set Waiting for Customer", "设置等待客户"),
    "resume_handling": ("Resume Handling", "恢复处理"),
    "reopen_complaint": ("Reopen Complaint", "重新处理"),
    "record_root_cause": ("Record Root Cause", "溯源整改记录"),
    "close_complaint": ("Close Complaint", "办结"),
    "callback_customer": ("Callback Customer", "回访客户"),
    # P2 loan application (BPIC 2017 keys)
    "A_Create Application": ("Create Application", "创建申请"),
    "A_Submitted": ("Application Submitted", "申请已提交"),
    "W_Handle leads": ("Handle Lead", "处理线索"),
    "A_Concept": ("Application Concept", "申请草稿"),
    "W_Complete application": ("Complete Application Call", "完善申请电话"),
    "A_Cancelled": ("Application Cancelled", "申请取消"),
    "A_Denied": ("Application Denied", "申请拒绝"),
    "A_Accepted": ("Application Accepted", "申请受理"),
    "O_Create Offer": ("Create Offer", "创建报价"),
    "O_Created": ("Offer Created", "报价已创建"),
    "O_Sent (mail and online)": ("Offer Sent (mail and online)", "报价已发送(邮寄及线上)"),
    "O_Sent (online only)": ("Offer Sent (online only)", "报价已发送(仅线上)"),
    "A_Complete": ("Application Complete", "申请资料齐全待签"),
    "W_Call after offers": ("Call After Offer", "报价后回访电话"),
    "O_Cancelled": ("Offer Cancelled", "报价取消"),
    "O_Returned": ("Offer Returned", "报价已返回"),
    "A_Wait Customer": ("Waiting for Customer", "等待客户"),
    "A_Resume": ("Resume Application", "恢复处理"),
    "W_Validate application": ("Validate Application", "审核申请"),
    "A_Validating": ("Application Validating", "申请审核中"),
    "A_Incomplete": ("Application Incomplete", "申请材料不全"),
    "W_Call incomplete files": ("Call for Missing Documents", "催补材料电话"),
    "W_Assess potential fraud": ("Assess Potential Fraud", "欺诈风险评估"),
    "Second Underwriter Review": ("Second Underwriter Review", "二次审批复核"),
    "A_Pending": ("Application Approved (Pending Payout)", "审批通过待放款"),
    "O_Accepted": ("Offer Accepted", "报价接受"),
    "O_Refused": ("Offer Refused", "报价拒绝"),
}

#: Label variants some systems write (noise option ``label_variants``), key -> variants.
VARIANTS: dict[str, tuple[str, ...]] = {
    "verify_identity": ("Verify ID", "Identity Verification", "身份核验"),
    "handle_request": ("Handle Req.", "Request Handling"),
    "after_call_work": ("ACW", "Wrap-up"),
}

LANGUAGES = ("en", "zh")
STYLES = ("friendly", "bpic17")


def label(key: str, lang: str = "en", style: str = "friendly") -> str:
    """The label of an activity key in a language and style."""
    if lang not in LANGUAGES:
        raise ConfigError(f"unknown labels '{lang}'; choose one of {', '.join(LANGUAGES)}")
    if style not in STYLES:
        raise ConfigError(f"unknown label style '{style}'; choose one of {', '.join(STYLES)}")
    en, zh = LABELS.get(key, (key, key))
    if lang == "zh":
        return zh
    if style == "bpic17" and key[:2] in ("A_", "O_", "W_"):
        return key
    return en
